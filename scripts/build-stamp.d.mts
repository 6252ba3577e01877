export declare const STAMP: string
export declare function sourceHashes(root: string): Record<string, string>
export declare function staleBuild(root: string): string | undefined

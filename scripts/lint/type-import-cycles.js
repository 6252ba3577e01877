// The ESLint rule `tokenctl/no-type-import-cycle`: a type-only import that closes an import cycle.
//
// import-x/no-cycle leaves type-only imports out on purpose (they are erased from the JavaScript), so
// a cycle that goes through one is not reported there. It is still a cycle between two modules' ideas:
// each needs the other to be read, and a value import added to either side later makes it a real one.
// This rule reports exactly those imports; import-x/no-cycle keeps the cycles of value imports.
//
// The graph is the TypeScript program typed linting has already built (tsconfig.test.json), read once
// per program: every import, export-from and import() of every file in it, type-only or not.
import path from 'node:path'

import ts from 'typescript'

/** @type {WeakMap<ts.Program, {component: Map<string, number>, edges: Map<string, string[]>}>} */
const graphs = new WeakMap()

function resolver(program) {
  const options = program.getCompilerOptions()
  const cache = ts.createModuleResolutionCache(program.getCurrentDirectory(), (name) => name, options)
  return (specifier, from) => {
    const resolved = ts.resolveModuleName(specifier, from, options, ts.sys, cache).resolvedModule
    return resolved && !resolved.isExternalLibraryImport ? resolved.resolvedFileName : undefined
  }
}

/** The project's files, each with the files it imports, and each file's strongly connected component. */
function graphOf(program) {
  const known = graphs.get(program)
  if (known) return known
  const resolve = resolver(program)
  const edges = new Map()
  for (const file of program.getSourceFiles()) {
    if (file.isDeclarationFile || program.isSourceFileFromExternalLibrary(file)) continue
    const imported = ts.preProcessFile(file.text, true, true).importedFiles
    edges.set(file.fileName, [...new Set(imported.map(({fileName}) => resolve(fileName, file.fileName)).filter(Boolean))])
  }

  // Tarjan's strongly connected components, iteratively (no recursion depth to worry about).
  const component = new Map()
  const index = new Map()
  const low = new Map()
  const stack = []
  const onStack = new Set()
  let counter = 0
  for (const start of edges.keys()) {
    if (index.has(start)) continue
    const work = [[start, 0]]
    index.set(start, counter)
    low.set(start, counter++)
    stack.push(start)
    onStack.add(start)
    while (work.length > 0) {
      const frame = work.at(-1)
      const [node, next] = frame
      const targets = edges.get(node) ?? []
      if (next < targets.length) {
        frame[1]++
        const target = targets[next]
        if (!edges.has(target)) continue
        if (!index.has(target)) {
          index.set(target, counter)
          low.set(target, counter++)
          stack.push(target)
          onStack.add(target)
          work.push([target, 0])
        } else if (onStack.has(target)) {
          low.set(node, Math.min(low.get(node), index.get(target)))
        }
        continue
      }
      work.pop()
      if (work.length > 0) {
        const parent = work.at(-1)[0]
        low.set(parent, Math.min(low.get(parent), low.get(node)))
      }
      if (low.get(node) === index.get(node)) {
        let member
        do {
          member = stack.pop()
          onStack.delete(member)
          component.set(member, index.get(node))
        } while (member !== node)
      }
    }
  }

  const graph = {component, edges, resolve}
  graphs.set(program, graph)
  return graph
}

/** The shortest way from `from` back to `to`, inside their component: what the message shows. */
function pathBack(graph, from, to) {
  const previous = new Map([[from, undefined]])
  const queue = [from]
  while (queue.length > 0) {
    const node = queue.shift()
    if (node === to) break
    for (const target of graph.edges.get(node) ?? []) {
      if (previous.has(target) || graph.component.get(target) !== graph.component.get(from)) continue
      previous.set(target, node)
      queue.push(target)
    }
  }
  const path = []
  for (let node = to; node !== undefined; node = previous.get(node)) path.unshift(node)
  return path
}

function typeOnly(node) {
  if (node.importKind === 'type' || node.exportKind === 'type') return true
  return node.specifiers?.length > 0 && node.specifiers.every((specifier) => specifier.importKind === 'type' || specifier.exportKind === 'type')
}

/** @type {import('eslint').Rule.RuleModule} */
const noTypeImportCycle = {
  meta: {
    type: 'problem',
    docs: {description: 'a type-only import that closes an import cycle (import-x/no-cycle reports the others)'},
    messages: {cycle: 'Import cycle through a type-only import: {{path}}'},
    schema: [],
  },
  create(context) {
    const program = context.sourceCode.parserServices?.program
    if (!program) return {}
    const graph = graphOf(program)
    const file = context.physicalFilename
    const check = (node) => {
      if (!node.source || !typeOnly(node)) return
      const target = graph.resolve(node.source.value, file)
      if (target === undefined || !graph.component.has(file) || graph.component.get(target) !== graph.component.get(file)) return
      const relative = (name) => path.relative(context.cwd, name)
      context.report({data: {path: [file, ...pathBack(graph, target, file)].map(relative).join(' → ')}, messageId: 'cycle', node})
    }
    return {ExportAllDeclaration: check, ExportNamedDeclaration: check, ImportDeclaration: check}
  },
}

export const plugin = {rules: {'no-type-import-cycle': noTypeImportCycle}}

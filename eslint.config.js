// `npm run lint` runs this, then `prettier --check`: ESLint for what finds bugs, Prettier for layout
// (eslint-config-prettier, last, turns off every rule that would argue with it).
import js from '@eslint/js'
import prettier from 'eslint-config-prettier'
import {createTypeScriptImportResolver} from 'eslint-import-resolver-typescript'
import {importX} from 'eslint-plugin-import-x'
import {defineConfig} from 'eslint/config'
import {configs as typescript} from 'typescript-eslint'

import {plugin as tokenctl} from './scripts/lint/type-import-cycles.js'

// Node's globals, as the Node running ESLint has them (scripts/, bin/ and the mocha hooks are plain JavaScript).
const nodeGlobals = Object.fromEntries(Object.getOwnPropertyNames(globalThis).map((name) => [name, 'readonly']))

export default defineConfig(
  {ignores: ['dist/', 'reports/', '.stryker-tmp/', '.dist-next-*/', '.dist-old-*/', 'oclif.manifest.json']},
  // A disable comment that no longer disables anything goes.
  {linterOptions: {reportUnusedDisableDirectives: 'error'}},

  js.configs.recommended,
  typescript.recommendedTypeChecked,
  importX.flatConfigs.recommended,
  importX.flatConfigs.typescript,
  {
    languageOptions: {
      // One program for src/, test/ and bench/ (tsconfig.test.json is what `npm run typecheck` checks).
      parserOptions: {project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname},
    },
    plugins: {tokenctl},
    settings: {
      'import-x/resolver-next': [createTypeScriptImportResolver({project: 'tsconfig.test.json'})],
    },
    rules: {
      // No import cycle, whatever kind of import closes it: import-x/no-cycle for imports of values,
      // tokenctl/no-type-import-cycle (scripts/lint/) for the type-only imports it leaves out.
      'import-x/no-cycle': 'error',
      'tokenctl/no-type-import-cycle': 'error',
      // Commands import the library, never the reverse (a command's flags live beside its operation).
      'import-x/no-restricted-paths': [
        'error',
        {zones: [{target: './src/lib', from: './src/commands', message: 'The library never imports a command; a command line is defined in src/lib/operations/<command>.flags.ts.'}]},
      ],
      // A leading underscore marks what is there on purpose: a parameter an interface imposes, the
      // property a rest pattern leaves out (`const {authorization: _a, ...headers} = req.headers`).
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', varsIgnorePattern: '^_'}],
      // Every async function without an await here keeps a promise-returning interface (a store, an
      // oidc-provider hook, a test double); dropping `async` would turn its throws into synchronous ones.
      '@typescript-eslint/require-await': 'off',
      // `let server` read by a handler defined before the one assignment (a server that must know its own port) stays `let`.
      'prefer-const': ['error', {ignoreReadBeforeAssign: true}],
    },
  },
  {
    // Tests assert on what a command printed or a server answered, parsed from JSON (any by nature):
    // the assertion is the type check. The library keeps these rules, where `any` would hide a bug.
    files: ['test/**', 'bench/**'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs', '**/*.d.mts'],
    extends: [typescript.disableTypeChecked],
    languageOptions: {globals: nodeGlobals},
  },
  {
    // bin/ loads the build (dist/), which `npm run lint` does not need to exist.
    files: ['bin/**'],
    rules: {'import-x/no-unresolved': ['error', {ignore: ['^\\.\\./dist/']}]},
  },
  {
    files: ['**/*.cjs'],
    languageOptions: {sourceType: 'commonjs'},
    rules: {'@typescript-eslint/no-require-imports': 'off'},
  },

  prettier,
)

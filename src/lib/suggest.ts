/**
 * "Did you mean …?" for a command or a flag that does not exist: the closest names by edit distance.
 * Commands are compared word for word with what was typed (`tokn client` against `token client`), so
 * that the words after a command's name (its arguments) do not count against it.
 */

/** Levenshtein distance: insertions, deletions and substitutions each cost 1. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({length: b.length + 1}, (_, index) => index)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }

    previous = current
  }

  return previous[b.length]
}

/** Whether a name is close enough to what was typed to be a likely typo: a third of its length (at least 2 edits). */
const closeEnough = (distance: number, name: string) => distance <= Math.max(2, Math.floor(name.length / 3))

/**
 * The commands (space-separated names) closest to the typed words, best first, at most `limit`:
 * those within a third of the name's length (at least 2 edits). Commands of a topic that was typed
 * correctly (`token clinet`) come first when nothing is that close.
 */
export function closestCommands(typed: string[], commands: string[], limit = 3): string[] {
  const scored = commands.map((command) => {
    const words = command.split(' ')
    const attempt = typed.slice(0, words.length).join(' ')
    return {command, distance: editDistance(attempt, command), words: words.length}
  })
  const close = scored
    .filter(({command, distance}) => closeEnough(distance, command))
    // The command that explains more of what was typed wins: `token client` over `token` for `token cliet`.
    .sort((a, b) => b.words - a.words || a.distance - b.distance || a.command.localeCompare(b.command))
  if (close.length > 0) {
    const [best] = close
    return close
      .filter(({distance, words}) => distance === best.distance && words === best.words)
      .slice(0, limit)
      .map(({command}) => command)
  }

  const topic = typed[0]
  return commands.filter((command) => command.startsWith(`${topic} `)).slice(0, limit)
}

/**
 * The names closest to a typed one (a flag's, without its dashes), best first, at most `limit`: those
 * within closeEnough, or, when none is, those that begin with what was typed (`--cert` for
 * `--certificate-file`).
 */
export function closestNames(typed: string, names: string[], limit = 3): string[] {
  const unique = [...new Set(names)]
  const scored = unique.map((name) => ({distance: editDistance(typed, name), name})).filter(({distance, name}) => closeEnough(distance, name))
  if (scored.length > 0) {
    const best = Math.min(...scored.map(({distance}) => distance))
    return scored
      .filter(({distance}) => distance === best)
      .map(({name}) => name)
      .sort()
      .slice(0, limit)
  }

  return typed.length >= 3
    ? unique
        .filter((name) => name.startsWith(typed))
        .sort()
        .slice(0, limit)
    : []
}

/** What people type for the version (git, npm and gh take some of them): tokenctl's is --version. */
const VERSION_WORDS = new Set(['-v', '-V', '--v', 'version'])

/**
 * The line for an unknown command (`shown`, as typed), naming the closest commands to it and the words
 * after it (`more`: its arguments), or --version for the ways other tools ask for theirs.
 */
export function unknownCommandLine(shown: string[], more: string[], commands: string[], bin: string): string {
  const what = shown.join(' ')
  if (VERSION_WORDS.has(shown[0])) return `Error: ${what} is not a ${bin} command — did you mean \`${bin} --version\`?`
  const suggestions = closestCommands(
    [...shown, ...more].filter((word) => !word.startsWith('-')),
    commands,
  )
  const mean = suggestions.length > 0 ? ` — did you mean ${suggestions.map((command) => `\`${command}\``).join(' or ')}?` : ''
  return `Error: ${what} is not a ${bin} command${mean} (\`${bin} help\` lists every command)`
}

/**
 * "Did you mean …?" for a command that does not exist: the closest command names by edit distance,
 * compared word for word with what was typed (`tokn client` against `token client`), so that the
 * words after a command's name (its arguments) do not count against it.
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
    .filter(({command, distance}) => distance <= Math.max(2, Math.floor(command.length / 3)))
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

/**
 * tmux splits the commands of one invocation at arguments that END in ';' (`cmd a; cmd b` works without a space).
 * A trailing "\;" is tmux's escape for a literal ';', so this keeps any argument exactly as given.
 */
export const escapeTmuxArg = (arg: string): string => (arg.endsWith(";") ? `${arg.slice(0, -1)}\\;` : arg);

/** For options tmux expands as formats (e.g. `-c start-directory`): `#` would start a format. */
export const escapeTmuxFormat = (text: string): string => text.replaceAll("#", "##");

/** Single-quotes a word for sh. Used only for paths the manager makes itself (its log files). */
export const shellQuote = (word: string): string => `'${word.replaceAll("'", `'\\''`)}'`;

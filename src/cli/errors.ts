/**
 * How every `attestor` subcommand ends when it cannot do its work: one line on stderr,
 * `attestor <command>: <message>` (or one JSON object on stdout with --json), never a stack trace,
 * and an exit code that tells a script what happened: 0 done, 1 refused or failed while running,
 * 2 usage (unknown option or subcommand, missing or bad flag, unusable input such as an unreadable
 * file). ATTESTOR_DEBUG=1 adds the stack trace for developers.
 */
import { CommanderError, InvalidArgumentError } from 'commander';
import { errorMessage } from '../errors.ts';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** The command cannot run as asked (a bad flag or flag combination, an unreadable file): exit 2. */
export class UnusableInput extends Error {
  override name = 'UnusableInput';
}

type Write = (s: string) => void;

export interface CliFailure {
  /** e.g. `attestor verify snp`. */
  readonly command: string;
  readonly message: string;
  readonly exitCode: number;
}

/** File-system errors on a path the user gave: the input is unusable, not the program broken. */
const INPUT_ERRNO = new Set(['ENOENT', 'EACCES', 'EISDIR', 'ENOTDIR', 'EPERM', 'ELOOP']);

/** The exit code an error that ended a command stands for. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof UnusableInput || err instanceof InvalidArgumentError) return EXIT_USAGE;
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && INPUT_ERRNO.has(code)) return EXIT_USAGE;
  return EXIT_FAILED;
}

/** What an error says, on one line, without commander's "error: " prefix. */
export function oneLine(err: unknown): string {
  const text = err instanceof CommanderError ? err.message.replace(/^error: /, '') : errorMessage(err);
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/** Writes a failure: one JSON object on stdout with --json, else one line on stderr. */
export function writeFailure(
  failure: CliFailure,
  json: boolean,
  out: Write = (s) => process.stdout.write(s),
  err: Write = (s) => process.stderr.write(s),
): number {
  if (json)
    out(
      `${JSON.stringify({ error: { command: failure.command, exitCode: failure.exitCode, message: failure.message } }, null, 2)}\n`,
    );
  else err(`${failure.command}: ${failure.message}\n`);
  return failure.exitCode;
}

/** For the run functions of subcommands: an UnusableInput becomes exit 2 with its message; anything else is rethrown. */
export function reportUnusable(command: string, e: unknown, json: boolean, out: Write, err: Write): number {
  if (!(e instanceof UnusableInput)) throw e;
  return writeFailure({ command, message: e.message, exitCode: EXIT_USAGE }, json, out, err);
}

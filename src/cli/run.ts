/**
 * Runs the attestor command tree on an argv and turns whatever ends it into an exit code and one
 * line (errors.ts): main.ts is this plus process.exitCode; tests call it in-process.
 */
import type { Command } from 'commander';
import { commandPath, UsageError } from './conventions.ts';
import { EXIT_USAGE, exitCodeOf, oneLine, writeFailure } from './errors.ts';

type Write = (s: string) => void;

export async function runCommand(
  program: Command,
  argv: readonly string[],
  out: Write = (s) => process.stdout.write(s),
  err: Write = (s) => process.stderr.write(s),
): Promise<number | undefined> {
  /** The command whose action runs, for the name in an error line. */
  let running: Command = program;
  program.hook('preAction', (_root, action) => {
    running = action;
  });
  try {
    await program.parseAsync(argv);
    return undefined; // the action set process.exitCode (or the process keeps serving)
  } catch (e) {
    const usage = e instanceof UsageError;
    const exitCode = exitCodeOf(e);
    if (usage && exitCode === 0) return 0; // --help, --version
    const command = usage ? e.command : commandPath(running);
    // A parse error happens before options exist: --json is looked for in the arguments.
    const json = usage ? jsonRequested(argv) : running.opts().json === true;
    // A command group called without a subcommand: commander has printed its help to stderr.
    const message = usage && e.code === 'commander.help' ? 'a subcommand is needed (listed above)' : oneLine(e);
    const hint = usage && exitCode === EXIT_USAGE && e.code !== 'commander.help' ? ` (see ${command} --help)` : '';
    if (process.env.ATTESTOR_DEBUG === '1' && e instanceof Error && !usage) err(`${e.stack}\n`);
    return writeFailure({ command, message: `${message}${hint}`, exitCode }, json, out, err);
  }
}

function jsonRequested(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

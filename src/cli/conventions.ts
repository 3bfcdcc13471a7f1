/**
 * What every subcommand shares, applied once to the whole command tree: usage errors end the
 * process through main.ts (exit 2, one line, JSON with --json) instead of commander's own exit 1,
 * and help shows each default as a user would type it (`0.0.0.0:8080`, `15s`).
 */
import { type Command, CommanderError } from 'commander';
import { addressOption, durationOption } from './options.ts';

/** The command's name as typed, e.g. `attestor verify snp`. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** A parse error of one command, with that command's name for the message. */
export class UsageError extends CommanderError {
  readonly command: string;
  constructor(command: Command, err: CommanderError) {
    super(err.exitCode, err.code, err.message);
    this.command = commandPath(command);
  }
}

/** 15000 -> "15s", 120000 -> "2m": the largest unit that divides the value. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const)
    if (ms > 0 && ms % size === 0) return `${ms / size}${unit}`;
  return ms === 0 ? '0s' : `${ms}ms`;
}

export function formatAddress(a: { host: string; port: number }): string {
  return `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}

/** Applies the conventions to `root` and every command below it. */
export function applyConventions(root: Command): Command {
  const visit = (command: Command): void => {
    command.exitOverride((err) => {
      throw new UsageError(command, err);
    });
    command.configureOutput({ outputError: () => {} }); // main.ts writes the one line
    for (const option of command.options) {
      if (option.defaultValue === undefined || option.defaultValueDescription !== undefined) continue;
      if (option.parseArg === addressOption)
        option.defaultValueDescription = formatAddress(option.defaultValue as { host: string; port: number });
      else if (option.parseArg === durationOption && typeof option.defaultValue === 'number')
        option.defaultValueDescription = formatDuration(option.defaultValue);
    }
    for (const sub of command.commands) visit(sub);
  };
  visit(root);
  return root;
}

/** JSON-lines logging (pino). Components take a child logger; nothing logs keys, prompts or secrets. */
import { type Logger, pino } from 'pino';

export type { Logger };

export interface LogOptions {
  level?: string;
  /** Write somewhere other than stdout (tests, `attestor dev`). */
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: LogOptions = {}): Logger {
  const level = options.level ?? process.env.ATTESTOR_LOG_LEVEL ?? 'info';
  const base = {
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return options.destination ? pino(base, options.destination as pino.DestinationStream) : pino(base);
}

/** A logger that drops everything, for pure tests. */
export const silentLogger: Logger = pino({ level: 'silent' });

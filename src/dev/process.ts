/**
 * A child process that the local control plane owns: output goes to a log file, stop() ends it
 * (SIGTERM, then SIGKILL after a grace period), and every live child is killed when this
 * Node.js process exits, so no test run or `attestor dev` session leaves processes behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

export interface ProcessSpec {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export class ManagedProcess {
  readonly spec: ProcessSpec;
  #child: ChildProcess | undefined;
  #exited: Promise<number | null> = Promise.resolve(null);
  #exitCode: number | null | undefined;

  constructor(spec: ProcessSpec) {
    this.spec = spec;
  }

  /** The exit code once the process ended by itself, undefined while it runs. */
  get exitCode(): number | null | undefined {
    return this.#exitCode;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#exitCode === undefined;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  start(): void {
    if (this.running) throw new Error(`${this.spec.name} is already running`);
    installExitHook();
    const log = openSync(this.spec.logFile, 'a');
    const child = spawn(this.spec.command, this.spec.args, {
      stdio: ['ignore', log, log],
      env: this.spec.env ?? process.env,
      cwd: this.spec.cwd,
    });
    closeSync(log);
    this.#exitCode = undefined;
    this.#child = child;
    live.add(child);
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        this.#exitCode = code ?? (signal ? -1 : null);
        resolve(code);
      });
      child.once('error', (err) => {
        live.delete(child);
        this.#exitCode = -1;
        resolve(-1);
        void err;
      });
    });
  }

  /** Ends the process: SIGTERM, SIGKILL after graceMs. Resolves when it has exited. */
  async stop(graceMs = 10_000): Promise<void> {
    const child = this.#child;
    if (!child || this.#exitCode !== undefined) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** Kills at once (a crash, as tests of recovery want it). */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child || this.#exitCode !== undefined) return;
    child.kill('SIGKILL');
    await this.#exited;
  }
}

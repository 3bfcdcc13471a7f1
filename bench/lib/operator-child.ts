/**
 * The driver's side of the scale bench's operator process (operator-process.ts): forks it, sends
 * it its configuration, answers its requests for its own pod VM's evidence from the simulated
 * hardware, and reads its peak RSS (VmHWM) and CPU (utime + stime) from /proc.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SimulatedPlatform } from '../../src/agent/evidence/simulated.ts';
import type { CvmEvidenceSource } from '../../src/agent/evidence/source.ts';
import { gpuOcsp } from '../../src/collateral/gpu.ts';
import { certIdParts, ocspFile } from '../../src/collateral/nvidia-ocsp.ts';
import { errorMessage } from '../../src/errors.ts';
import type { FromOperator, OperatorProcessConfig, ToOperator } from './operator-process.ts';

const ENTRY = fileURLToPath(new URL('./operator-process.ts', import.meta.url));

export class OperatorChild {
  readonly #child: ChildProcess;
  readonly webhookPort: number;
  readonly coordinatorPort: number;
  #usageWaiter: ((u: OperatorUsage) => void) | undefined;

  private constructor(child: ChildProcess, ports: { webhookPort: number; coordinatorPort: number }) {
    this.#child = child;
    this.webhookPort = ports.webhookPort;
    this.coordinatorPort = ports.coordinatorPort;
    child.on('message', (message: FromOperator) => {
      if (message.type === 'usage') this.#usageWaiter?.(message);
    });
  }

  /** Forks the operator and waits until it serves (webhook and Coordinator ports known). */
  static async start(config: OperatorProcessConfig, ownEvidence: CvmEvidenceSource): Promise<OperatorChild> {
    // SCALE_OPERATOR_NODE_OPTIONS: Node flags for the operator, e.g. the heap limit a container's
    // memory limit gives it (--max-old-space-size=...), or --expose-gc to report the live heap.
    const execArgv = (process.env.SCALE_OPERATOR_NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean);
    const child = fork(ENTRY, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: [...process.execArgv, ...execArgv],
    });
    child.on('message', (message: FromOperator) => {
      if (message.type !== 'collect') return;
      ownEvidence.collect(message.reportData).then(
        (evidence) => child.send({ type: 'evidence', id: message.id, evidence } satisfies ToOperator),
        (err) => child.send({ type: 'evidence', id: message.id, error: errorMessage(err) } satisfies ToOperator),
      );
    });
    const ports = await new Promise<{ webhookPort: number; coordinatorPort: number }>((resolve, reject) => {
      child.on('message', (message: FromOperator) => {
        if (message.type === 'started') resolve(message);
        if (message.type === 'failed') reject(new Error(`the operator process failed to start: ${message.error}`));
      });
      child.once('exit', (code) => reject(new Error(`the operator process exited (${code}) before it served`)));
      child.send({ type: 'start', config } satisfies ToOperator);
    });
    return new OperatorChild(child, ports);
  }

  /** What the operator says of its heap and CPU now (after a full collection when it runs with --expose-gc). */
  usage(): Promise<OperatorUsage> {
    return new Promise((resolve) => {
      this.#usageWaiter = (u) => {
        this.#usageWaiter = undefined;
        resolve(u);
      };
      this.#child.send({ type: 'usage' } satisfies ToOperator);
    });
  }

  get pid(): number {
    return this.#child.pid!;
  }

  /** Its peak resident set (VmHWM), bytes. */
  peakRss(): number {
    const kb = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'))?.[1];
    if (!kb) throw new Error(`no VmHWM in /proc/${this.pid}/status`);
    return Number(kb) * 1024;
  }

  /** Its CPU time (user + system, from /proc/<pid>/stat), seconds. */
  cpuSeconds(): number {
    const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) in parentheses; utime and stime are the 14th and 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks / USER_HZ;
  }

  /** Ends it at once (the bench failed): the operator must not outlive the driver. */
  kill(): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.send({ type: 'stop' } satisfies ToOperator);
    await exited;
  }
}

/** The unit of /proc/<pid>/stat's times: USER_HZ, 100 on Linux (the kernel's ABI, whatever CONFIG_HZ is). */
const USER_HZ = 100;

/**
 * Writes an OCSP answer for every certificate the Coordinator will ask about for these GPUs'
 * device chains and the platform's RIMs into `dir`, in the collateral cache's layout
 * (nvidia/ocsp/<issuer key hash>/<serial>.der, src/collateral/layout.ts), signed now by the
 * simulated NVIDIA responder (valid an hour): the operator process reads them from there with
 * fetching off, as an air-gapped cluster reads what `attestor collateral fetch` stored. Returns
 * how many.
 */
export async function writeOcspAnswers(
  platform: SimulatedPlatform,
  gpus: ReadonlyArray<{ uuid: string; certificateChain: string }>,
  dir: string,
  at: Date,
): Promise<number> {
  let written = 0;
  await gpuOcsp(
    {
      nvidiaOcsp: async (query) => {
        const answer = platform.gpu.ocspResponder(query.certificate.der, query.issuer.der, at);
        if (!answer) return { status: 'missing', reason: `no answer for "${query.certificate.name}"` };
        const file = join(dir, ocspFile(certIdParts(query)));
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, answer.der);
        written++;
        return { status: 'found', value: answer, from: 'vendor' };
      },
    },
    gpus,
    platform.collateral.gpu?.rims ?? [],
    platform.trust.gpu ?? {},
  );
  return written;
}

export type OperatorUsage = Extract<FromOperator, { type: 'usage' }>;

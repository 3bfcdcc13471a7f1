/**
 * One part of the inference chain for bench/inference-chain.bench.ts, run as its own process (as in
 * production: the model server, the worker proxy beside it, the client proxy on the client's
 * machine) or in the benchmark's process. `node bench/lib/chain-part.ts` is a child started by
 * fork: it receives its part over IPC, starts it on loopback, and answers with its URL. The secret
 * service stays in the benchmark's process: the client proxy's exchanges go to it over IPC, and it
 * hands each secret to the worker proxy's in-memory lookup before it answers (the released-secrets
 * cache of a real worker proxy holds it the same way).
 */
import { startModelServer } from '../../src/model-server/server.ts';
import type { KeyExchangeRequest } from '../../src/protocol/inference/key-exchange.ts';
import type { RecordVersion } from '../../src/protocol/inference/records.ts';
import { startClientProxy } from '../../src/proxy/server.ts';
import { InferenceSession } from '../../src/proxy/session.ts';
import { startWorkerProxy } from '../../src/worker/worker-proxy.ts';

export type PartConfig =
  | { role: 'model' }
  | { role: 'worker'; certificateDir: string; upstream: string }
  | {
      role: 'client';
      meshCA: string;
      policies: ReadonlyArray<{ hash: string; role?: 'secret-service' | 'worker' }>;
      endpoint: string;
      /** The client's record version (default 2). */
      recordVersion?: RecordVersion;
    };

export interface Part {
  url: string;
  close(): Promise<void>;
}

/** The hooks between a part and the secret service. */
export interface PartLinks {
  exchange(request: KeyExchangeRequest): Promise<unknown>;
  /** The worker's lookup table; the service writes each secret into it. */
  secrets: Map<string, { secret: Uint8Array; expiresAt: Date }>;
}

export async function startPart(config: PartConfig, links: PartLinks): Promise<Part> {
  if (config.role === 'model') {
    const model = await startModelServer({ host: '127.0.0.1' });
    return { url: model.url, close: () => model.close() };
  }
  if (config.role === 'worker') {
    const worker = await startWorkerProxy({
      host: '127.0.0.1',
      certificateDir: config.certificateDir,
      upstream: config.upstream,
      secrets: { get: async (id) => links.secrets.get(id) },
    });
    return { url: worker.url, close: () => worker.close() };
  }
  const session = new InferenceSession({
    meshCA: config.meshCA,
    manifest: { policies: config.policies },
    exchange: links.exchange,
    endpoint: config.endpoint,
    ...(config.recordVersion === undefined ? {} : { recordVersion: config.recordVersion }),
  });
  const proxy = await startClientProxy({ listen: { host: '127.0.0.1', port: 0 }, session });
  return {
    url: proxy.url,
    async close() {
      await proxy.close();
      session.close();
    },
  };
}

type ParentMessage =
  | { type: 'start'; config: PartConfig }
  | { type: 'secret'; id: string; secret: Uint8Array; expiresAt: number; ack: number }
  | { type: 'exchanged'; call: number; response?: unknown; error?: string }
  | { type: 'close' };

if (process.send !== undefined && process.argv[1] === import.meta.filename) {
  const send = process.send.bind(process);
  const secrets = new Map<string, { secret: Uint8Array; expiresAt: Date }>();
  const calls = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let next = 0;
  let part: Part | undefined;
  const links: PartLinks = {
    secrets,
    exchange: (request) =>
      new Promise((resolve, reject) => {
        const call = next++;
        calls.set(call, { resolve, reject });
        send({ type: 'exchange', call, request });
      }),
  };
  process.on('message', async (message: ParentMessage) => {
    if (message.type === 'start') {
      part = await startPart(message.config, links);
      send({ type: 'started', url: part.url });
    } else if (message.type === 'secret') {
      secrets.set(message.id, { secret: message.secret, expiresAt: new Date(message.expiresAt) });
      send({ type: 'ack', ack: message.ack });
    } else if (message.type === 'exchanged') {
      const call = calls.get(message.call);
      calls.delete(message.call);
      if (message.error !== undefined) call?.reject(new Error(message.error));
      else call?.resolve(message.response);
    } else if (message.type === 'close') {
      await part?.close();
      process.disconnect();
    }
  });
}

/**
 * The secret store: etcd's v3 API through its gRPC gateway (JSON over HTTPS, `/v3/kv/*`,
 * `/v3/lease/grant`, `/v3/watch`), with node:https rather than a gRPC client library: no new
 * dependency, and the TLS check of the member is ours to make. Mutual TLS both ways with mesh
 * certificates: the service presents its workload certificate (etcd runs with
 * `--client-cert-auth` and the mesh CA as `--trusted-ca-file`), and trusts for etcd only the
 * current mesh CA, and only a certificate that names the `secret-store` role
 * (store-certificate.ts). Values are opaque bytes here: the caller seals them (sealed-record.ts).
 */
import { Agent, request } from 'node:https';
import { secretStoreCertificateProblem } from './store-certificate.ts';

/** What the service presents to etcd and trusts of it: its workload certificate and key, and the current mesh CA. */
export interface StoreTls {
  cert: string;
  key: string;
  meshCa: string;
}

export interface StoredValue {
  key: string;
  value: Uint8Array;
}

/** An etcd member refused or unreachable: says which endpoint and why, never a value. */
export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreError';
  }
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

/** The range end of a prefix: the prefix with its last byte incremented. */
function prefixEnd(prefix: string): string {
  const bytes = Buffer.from(prefix);
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! + 1;
  return bytes.toString('base64');
}

export class EtcdStore {
  readonly #endpoints: readonly URL[];
  #agent: Agent;
  /** The endpoint the next watch dials first. */
  #watchFrom = 0;

  constructor(endpoints: readonly string[], tls: StoreTls) {
    if (endpoints.length === 0) throw new Error('no etcd endpoint');
    this.#endpoints = endpoints.map((e) => {
      const url = new URL(e);
      if (url.protocol !== 'https:')
        throw new Error(`etcd endpoint ${e} is not https: the store is dialled over mTLS only`);
      return url;
    });
    this.#agent = this.#newAgent(tls);
  }

  /** New TLS material (a renewed certificate, a new mesh CA): later requests use it. */
  setTls(tls: StoreTls): void {
    const old = this.#agent;
    this.#agent = this.#newAgent(tls);
    old.destroy();
  }

  close(): void {
    this.#agent.destroy();
  }

  /**
   * Stores `value` under `key` with a lease of `ttlSeconds` (etcd deletes it when the lease ends),
   * unless the key exists, or `whileExists` names a key that does not: then nothing changes and the
   * answer is false. Both are checked in the transaction that writes, so a record written for
   * another (an answer to a request) is never written after that other was deleted.
   */
  async create(
    key: string,
    value: Uint8Array,
    ttlSeconds: number,
    options: { whileExists?: string } = {},
  ): Promise<boolean> {
    const lease = (await this.#call('/v3/lease/grant', { TTL: ttlSeconds })) as { ID?: string };
    if (!lease.ID) throw new StoreError('etcd granted no lease');
    const requires = options.whileExists
      ? [{ key: b64(options.whileExists), target: 'CREATE', result: 'GREATER', create_revision: '0' }]
      : [];
    const answer = (await this.#call('/v3/kv/txn', {
      compare: [{ key: b64(key), target: 'CREATE', result: 'EQUAL', create_revision: '0' }, ...requires],
      success: [{ request_put: { key: b64(key), value: Buffer.from(value).toString('base64'), lease: lease.ID } }],
    })) as { succeeded?: boolean };
    if (answer.succeeded === true) return true;
    await this.#call('/v3/lease/revoke', { ID: lease.ID });
    return false;
  }

  /**
   * Stores `value` under `key` bound to a new lease of `ttlSeconds`, unless the key exists; the
   * lease's ID when it was stored, undefined otherwise. The lease lives only as long as someone
   * keeps it alive (keepAlive).
   */
  async createWithLease(key: string, value: Uint8Array, ttlSeconds: number): Promise<string | undefined> {
    const lease = (await this.#call('/v3/lease/grant', { TTL: ttlSeconds })) as { ID?: string };
    if (!lease.ID) throw new StoreError('etcd granted no lease');
    const answer = (await this.#call('/v3/kv/txn', {
      compare: [{ key: b64(key), target: 'CREATE', result: 'EQUAL', create_revision: '0' }],
      success: [{ request_put: { key: b64(key), value: Buffer.from(value).toString('base64'), lease: lease.ID } }],
    })) as { succeeded?: boolean };
    if (answer.succeeded === true) return lease.ID;
    await this.#call('/v3/lease/revoke', { ID: lease.ID });
    return undefined;
  }

  /** Renews a lease; false when it is gone (expired or revoked). */
  async keepAlive(lease: string): Promise<boolean> {
    const answer = (await this.#call('/v3/lease/keepalive', { ID: lease })) as { result?: { TTL?: string } };
    return Number(answer.result?.TTL ?? 0) > 0;
  }

  async delete(key: string): Promise<void> {
    await this.#call('/v3/kv/deleterange', { key: b64(key) });
  }

  /** Every key under `prefix` with its value. */
  async list(prefix: string): Promise<StoredValue[]> {
    const answer = (await this.#call('/v3/kv/range', { key: b64(prefix), range_end: prefixEnd(prefix) })) as {
      kvs?: Array<{ key: string; value?: string }>;
    };
    return (answer.kvs ?? []).map((kv) => ({
      key: Buffer.from(kv.key, 'base64').toString(),
      value: new Uint8Array(Buffer.from(kv.value ?? '', 'base64')),
    }));
  }

  /** The value under `key` and the lease it is bound to (undefined: none). */
  async getEntry(key: string): Promise<{ value: Uint8Array; lease: string | undefined } | undefined> {
    const answer = (await this.#call('/v3/kv/range', { key: b64(key) })) as {
      kvs?: Array<{ value?: string; lease?: string }>;
    };
    const kv = answer.kvs?.[0];
    if (!kv) return undefined;
    const lease = kv.lease && kv.lease !== '0' ? kv.lease : undefined;
    return { value: new Uint8Array(Buffer.from(kv.value ?? '', 'base64')), lease };
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const answer = (await this.#call('/v3/kv/range', { key: b64(key) })) as { kvs?: Array<{ value?: string }> };
    const value = answer.kvs?.[0]?.value;
    return value === undefined ? undefined : new Uint8Array(Buffer.from(value, 'base64'));
  }

  /** How many keys start with `prefix`. */
  async count(prefix: string): Promise<number> {
    const answer = (await this.#call('/v3/kv/range', {
      key: b64(prefix),
      range_end: prefixEnd(prefix),
      count_only: true,
    })) as { count?: string };
    return Number(answer.count ?? 0);
  }

  /**
   * Calls `onPut` for every key put under `prefix` from now on, until `signal` aborts or the
   * stream ends (then the promise rejects, unless aborted). `onReady` once etcd created the watch.
   * Dials each endpoint in turn until one takes the watch (a lost member must not stop the watch
   * while the others serve), starting with the one after the endpoint whose watch failed last.
   */
  async watch(
    prefix: string,
    onPut: (kv: StoredValue) => void,
    options: { signal: AbortSignal; onReady?: () => void },
  ): Promise<void> {
    const problems: string[] = [];
    for (let tried = 0; tried < this.#endpoints.length; tried++) {
      const index = this.#watchFrom % this.#endpoints.length;
      const endpoint = this.#endpoints[index]!;
      const outcome = await this.#watchOne(endpoint, prefix, onPut, options);
      if (outcome === undefined) return;
      this.#watchFrom = index + 1;
      if (outcome.established) throw outcome.error;
      problems.push(outcome.error.message);
    }
    throw new StoreError(`no etcd member took the watch (${problems.join('; ')})`);
  }

  /** One watch on one member: undefined once aborted, else why it failed and whether etcd had taken it. */
  #watchOne(
    endpoint: URL,
    prefix: string,
    onPut: (kv: StoredValue) => void,
    options: { signal: AbortSignal; onReady?: () => void },
  ): Promise<{ established: boolean; error: Error } | undefined> {
    const body = JSON.stringify({ create_request: { key: b64(prefix), range_end: prefixEnd(prefix) } });
    return new Promise((resolve) => {
      let established = false;
      const fail = (error: Error) => resolve(options.signal.aborted ? undefined : { established, error });
      const req = request(
        new URL('/v3/watch', endpoint),
        { method: 'POST', agent: this.#agent, signal: options.signal, headers: { 'content-type': 'application/json' } },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            fail(new StoreError(`etcd ${endpoint.host} answered the watch with HTTP ${res.statusCode}`));
            return;
          }
          let buffer = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buffer += chunk;
            for (let i = buffer.indexOf('\n'); i !== -1; i = buffer.indexOf('\n')) {
              const line = buffer.slice(0, i).trim();
              buffer = buffer.slice(i + 1);
              if (line === '') continue;
              const message = JSON.parse(line) as {
                result?: { created?: boolean; events?: Array<{ type?: string; kv?: { key: string; value?: string } }> };
              };
              if (message.result?.created) {
                established = true;
                options.onReady?.();
              }
              for (const event of message.result?.events ?? [])
                if (event.type !== 'DELETE' && event.kv)
                  onPut({
                    key: Buffer.from(event.kv.key, 'base64').toString(),
                    value: new Uint8Array(Buffer.from(event.kv.value ?? '', 'base64')),
                  });
            }
          });
          res.on('end', () => fail(new StoreError(`etcd ${endpoint.host} ended the watch`)));
          res.on('error', (err) => fail(new StoreError(`etcd ${endpoint.host}: ${err.message}`)));
        },
      );
      req.on('error', (err) => fail(new StoreError(`etcd ${endpoint.host}: ${err.message}`)));
      req.end(body);
    });
  }

  /** One JSON call, to each endpoint in turn until one answers. */
  async #call(path: string, body: unknown): Promise<unknown> {
    const problems: string[] = [];
    for (const endpoint of this.#endpoints) {
      try {
        return await this.#callOne(endpoint, path, body);
      } catch (err) {
        problems.push(`${endpoint.host}: ${(err as Error).message}`);
      }
    }
    throw new StoreError(`no etcd member answered ${path} (${problems.join('; ')})`);
  }

  #callOne(endpoint: URL, path: string, body: unknown): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const req = request(
        new URL(path, endpoint),
        { method: 'POST', agent: this.#agent, timeout: 10_000, headers: { 'content-type': 'application/json' } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode !== 200) {
              reject(new StoreError(`HTTP ${res.statusCode}`));
              return;
            }
            try {
              resolve(JSON.parse(text));
            } catch {
              reject(new StoreError('the answer is not JSON'));
            }
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new StoreError('timed out')));
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  }

  #newAgent(tls: StoreTls): Agent {
    return new Agent({
      keepAlive: true,
      cert: tls.cert,
      key: tls.key,
      ca: tls.meshCa,
      // The mesh CA is an intermediate under the Coordinator's root: it is the anchor.
      allowPartialTrustChain: true,
      rejectUnauthorized: true,
      // Called only once the chain verified to the mesh CA: the member must be a certified secret store.
      checkServerIdentity: (_host, certificate) => {
        const problem = secretStoreCertificateProblem(new Uint8Array(certificate.raw));
        return problem === undefined ? undefined : new StoreError(problem);
      },
    });
  }
}

/**
 * One storage key per mesh CA, shared by the secret-service replicas through etcd
 * (storage-key-transfer.ts holds the records and their checks). Each `tick`:
 *
 * - a replica without the key of its current mesh CA reads the key record under
 *   `/attestor/storage-keys/<mesh CA SHA-256>/key`. None: it makes the key and creates the record
 *   in one etcd transaction on the record's create revision, so two replicas starting together
 *   make one key (the loser drops its own and asks). One: it writes a signed request under
 *   `requests/<id>` and takes the key from the answer under `answers/<id>` once the holder's
 *   certificate, its signature, and the key record's check value pass;
 * - a replica holding the key keeps the key record's lease alive (every holder does: when the
 *   last one is gone, the record ends with its lease and the next replica makes a new key), and
 *   answers every request whose certificate passes, logging the reasons of every refusal once.
 *
 * A replica whose certificate was withdrawn neither asks nor answers; it only keeps the record
 * alive, so that no other replica makes a second key meanwhile.
 *
 * Keys of the current and the previous mesh CA are kept (secrets exchanged before a Manifest
 * change are still released to the old CA's workers, D124); a replica hands out only the current
 * one, and only to replicas certified under the same mesh CA.
 */
import type { webcrypto } from 'node:crypto';
import type { Logger } from '../observability/log.ts';
import { TransferKeyPair } from '../pki/key-transfer.ts';
import type { EtcdStore } from './etcd-store.ts';
import { meshCaSha256, newStorageKey } from './sealed-record.ts';
import {
  keyCheckRecord,
  keyMatchesRecord,
  keyRequestProblems,
  makeKeyAnswer,
  makeKeyRequest,
  openKeyAnswer,
  requestId,
} from './storage-key-transfer.ts';
import type { WorkloadFiles } from './workload-files.ts';

type CryptoKey = webcrypto.CryptoKey;

export const STORAGE_KEY_PREFIX = '/attestor/storage-keys/';
/** How long the key record outlives its last holder. */
export const DEFAULT_KEY_LEASE_SECONDS = 30;
/** How long a request and its answer stay in etcd unless taken. */
const REQUEST_TTL_SECONDS = 300;

export interface KeyShareOptions {
  store: EtcdStore;
  /** The replica's current workload files: its certificate, signing key and mesh CA. */
  identity: () => WorkloadFiles;
  /** Whether the replica's certificate was withdrawn: then it neither asks nor answers (D125). */
  withdrawn: () => boolean;
  log: Logger;
  now: () => Date;
  keyLeaseSeconds?: number;
}

interface Pending {
  meshCaSha256: string;
  pair: TransferKeyPair;
  id: string;
  expiresAt: number;
}

export const meshPrefix = (meshCaSha: string) => `${STORAGE_KEY_PREFIX}${meshCaSha}/`;

export class StorageKeys {
  readonly #options: KeyShareOptions;
  /** Mesh CA SHA-256 → its storage key: the current one, and at most the previous one. */
  readonly #keys = new Map<string, CryptoKey>();
  #pending: Pending | undefined;
  /** Request keys refused (and logged) once; forgotten when the request is gone. */
  readonly #refused = new Set<string>();
  #running: Promise<void> | undefined;
  #mesh: { pem: string; sha: string } | undefined;
  #splitLogged = false;

  constructor(options: KeyShareOptions) {
    this.#options = options;
  }

  /** The storage key of the current mesh CA, undefined while this replica does not hold it. */
  current(): CryptoKey | undefined {
    return this.#keys.get(this.#meshOf(this.#options.identity()));
  }

  /** The SHA-256 of the files' mesh CA, computed once per mesh CA (current() runs on every request). */
  #meshOf(files: WorkloadFiles): string {
    if (this.#mesh?.pem !== files.meshCa) this.#mesh = { pem: files.meshCa, sha: meshCaSha256(files.meshCa) };
    return this.#mesh.sha;
  }

  /** Every key held, the current one first: a record opens under one of them or none. */
  all(): CryptoKey[] {
    const current = this.current();
    return [...(current ? [current] : []), ...[...this.#keys.values()].filter((k) => k !== current)];
  }

  /** Tests only: the storage key of the current mesh CA, to search etcd and logs for its bytes. */
  currentKeyForTests(): CryptoKey | undefined {
    return this.current();
  }

  /** Resolves once no round is running. */
  settled(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  /** One round; a round still running is joined, not repeated. Errors are logged, never thrown. */
  tick(): Promise<void> {
    this.#running ??= this.#round()
      .catch((err: unknown) => this.#options.log.warn({ err: (err as Error).message }, 'storage key round failed'))
      .finally(() => {
        this.#running = undefined;
      });
    return this.#running;
  }

  async #round(): Promise<void> {
    const files = this.#options.identity();
    const mesh = this.#meshOf(files);
    let key = this.#keys.get(mesh);
    if (this.#options.withdrawn()) {
      // The record stays (it opens nothing); another replica that asks waits for a certified holder.
      if (key) await this.#keepRecord(mesh, key);
      return;
    }
    if (!key) {
      key = await this.#obtain(files, mesh);
      if (!key) return;
      this.#hold(mesh, key);
    }
    await this.#keepRecord(mesh, key);
    await this.#answer(files, mesh, key);
  }

  #hold(mesh: string, key: CryptoKey): void {
    const previous = [...this.#keys.entries()].at(-1);
    this.#keys.clear();
    if (previous && previous[0] !== mesh) this.#keys.set(previous[0], previous[1]);
    this.#keys.set(mesh, key);
  }

  /** The key from the record's maker or a holder; undefined while none has answered. */
  async #obtain(files: WorkloadFiles, mesh: string): Promise<CryptoKey | undefined> {
    const { store, log } = this.#options;
    const recordKey = `${meshPrefix(mesh)}key`;
    const record = await store.get(recordKey);
    if (!record) {
      const key = await newStorageKey();
      const lease = await store.createWithLease(recordKey, await keyCheckRecord(key, mesh), this.#leaseSeconds());
      if (lease) {
        this.#pending = undefined;
        log.info({ meshCa: mesh }, 'made the storage key of this mesh CA (no replica held one)');
        return key;
      }
      // Another replica made it first: ask it, next round.
      return undefined;
    }
    const now = this.#options.now();
    if (!this.#pending || this.#pending.meshCaSha256 !== mesh || this.#pending.expiresAt <= now.getTime()) {
      const pair = await TransferKeyPair.generate();
      const request = await makeKeyRequest(
        { certificate: files.certificateChain[0]!, signingKey: files.signingKey },
        pair,
        mesh,
      );
      const id = requestId(pair.publicJwk);
      await store.create(
        `${meshPrefix(mesh)}requests/${id}`,
        Buffer.from(JSON.stringify(request)),
        REQUEST_TTL_SECONDS,
      );
      this.#pending = { meshCaSha256: mesh, pair, id, expiresAt: now.getTime() + (REQUEST_TTL_SECONDS - 30) * 1000 };
      log.info({ meshCa: mesh, request: id }, 'asked the other replicas for the storage key');
      return undefined;
    }
    const pending = this.#pending;
    const answerKey = `${meshPrefix(mesh)}answers/${pending.id}`;
    const answer = await store.get(answerKey);
    if (!answer) {
      // The request is gone (deleted, or its lease ended): ask again next round.
      if (!(await store.get(`${meshPrefix(mesh)}requests/${pending.id}`))) this.#pending = undefined;
      return undefined;
    }
    const opened = await openKeyAnswer(answer, pending.pair, files.meshCa, mesh, now);
    if ('reasons' in opened) {
      log.warn({ meshCa: mesh, request: pending.id, reasons: opened.reasons }, 'storage key answer refused');
      // Make room for an answer from a certified holder.
      await store.delete(answerKey);
      return undefined;
    }
    if (!(await keyMatchesRecord(opened.key, mesh, record))) {
      log.warn({ meshCa: mesh, request: pending.id }, 'the storage key handed over is not the one of the key record');
      await store.delete(answerKey);
      return undefined;
    }
    await store.delete(`${meshPrefix(mesh)}requests/${pending.id}`);
    await store.delete(answerKey);
    this.#pending = undefined;
    log.info({ meshCa: mesh }, 'received the storage key of this mesh CA from another replica');
    return opened.key;
  }

  /** Keeps the key record's lease alive; makes the record again when it ended (no holder renewed it in time). */
  async #keepRecord(mesh: string, key: CryptoKey): Promise<void> {
    const { store, log } = this.#options;
    const recordKey = `${meshPrefix(mesh)}key`;
    const entry = await store.getEntry(recordKey);
    if (entry && (await keyMatchesRecord(key, mesh, entry.value))) {
      if (entry.lease) await store.keepAlive(entry.lease);
      this.#splitLogged = false;
      return;
    }
    if (entry) {
      if (!this.#splitLogged)
        log.error(
          { meshCa: mesh },
          'the key record names another storage key than the one this replica holds: secrets exchanged here open only here',
        );
      this.#splitLogged = true;
      return;
    }
    if (await store.createWithLease(recordKey, await keyCheckRecord(key, mesh), this.#leaseSeconds()))
      log.warn({ meshCa: mesh }, 'the key record had ended: made it again with the storage key held here');
  }

  /** Answers every open request of this mesh CA whose certificate passes. */
  async #answer(files: WorkloadFiles, mesh: string, key: CryptoKey): Promise<void> {
    const { store, log } = this.#options;
    const prefix = `${meshPrefix(mesh)}requests/`;
    const requests = await store.list(prefix);
    const seen = new Set<string>();
    for (const request of requests) {
      seen.add(request.key);
      const id = request.key.slice(prefix.length);
      // Its own, and those refused before (checked once: a flood of requests costs one check each).
      if (id === this.#pending?.id || this.#refused.has(request.key)) continue;
      const answerKey = `${meshPrefix(mesh)}answers/${id}`;
      if (await store.get(answerKey)) continue;
      const problems = keyRequestProblems(request.value, files.meshCa, mesh, this.#options.now());
      if (problems.length > 0) {
        log.warn({ meshCa: mesh, request: id, reasons: problems }, 'storage key request refused');
        this.#refused.add(request.key);
        continue;
      }
      const answer = await makeKeyAnswer(
        { certificate: files.certificateChain[0]!, signingKey: files.signingKey },
        key,
        request.value,
        mesh,
      );
      // Only while the request exists: its maker deletes the request, then the answer, once it took
      // the key, and an answer written after that would be left behind.
      const written = await store.create(answerKey, Buffer.from(JSON.stringify(answer)), REQUEST_TTL_SECONDS, {
        whileExists: request.key,
      });
      if (written) log.info({ meshCa: mesh, request: id }, 'handed the storage key to a certified replica');
    }
    for (const refused of this.#refused) if (!seen.has(refused)) this.#refused.delete(refused);
  }

  #leaseSeconds(): number {
    return this.#options.keyLeaseSeconds ?? DEFAULT_KEY_LEASE_SECONDS;
  }
}

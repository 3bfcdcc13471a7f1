/**
 * The collateral cache: a directory laid out as layout.ts says, read first. With `network: true`
 * (off by default, so air-gapped clusters never try) a miss is fetched from the vendor, checked,
 * stored atomically (temp file + rename) and returned. Cached VCEKs, ASK/ARK chains and RIMs are
 * immutable by key; CRLs, TCB info and QE identity are fetched again once their nextUpdate has
 * passed, and used with a note saying they are stale while no newer one can be had. Every outcome
 * is a value the caller can report; messages name the item and the service, never credentials.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { SnpProduct } from '../attestation/reference-values.ts';
import type { KdsSigner } from './amd-kds.ts';
import {
  DEFAULT_HTTP_LIMITS,
  type FetchFunction,
  type HttpAnswer,
  type HttpLimits,
  redactUrl,
  undiciFetch,
} from './http.ts';
import type { PckCa } from './intel-pcs.ts';
import {
  type CollateralItem,
  type Parsed,
  type PckCrlCollateral,
  type SignedJsonCollateral,
  type StoredOcspAnswer,
  VENDOR_ENDPOINTS,
  type VendorEndpoints,
} from './layout.ts';
import { snpCertChainItem, snpCrlItem, snpVcekItem } from './layout-amd.ts';
import { tdxPckCrlItem, tdxQeIdentityItem, tdxRootCrlItem, tdxTcbInfoItem } from './layout-intel.ts';
import { nvidiaOcspItem, nvidiaRimItem } from './layout-nvidia.ts';
import type { OcspQuery } from './nvidia-ocsp.ts';
import { isRimId } from './nvidia-services.ts';

export type Lookup<T> =
  | {
      readonly status: 'found';
      readonly value: T;
      readonly from: 'cache' | 'vendor';
      /** Set when the collateral is past its nextUpdate: why no newer one is used. */
      readonly stale?: string;
      /** Set when a fetched item could not be stored (a read-only cache). */
      readonly warning?: string;
    }
  | { readonly status: 'missing'; readonly reason: string }
  | { readonly status: 'failed'; readonly error: string };

export interface CollateralStoreOptions {
  readonly dir: string;
  /** Fetch what the cache lacks from the vendors. Default false. */
  readonly network?: boolean;
  /** Default: undici, honouring HTTPS_PROXY. */
  readonly fetch?: FetchFunction;
  readonly limits?: Partial<HttpLimits>;
  readonly endpoints?: Partial<VendorEndpoints>;
  readonly now?: () => Date;
}

/** Vendor collateral from a cache directory, fetched into it where allowed. */
export class CollateralStore {
  readonly #options: CollateralStoreOptions;
  readonly #dir: string;
  readonly #network: boolean;
  readonly #fetch: FetchFunction;
  readonly #limits: HttpLimits;
  readonly #endpoints: VendorEndpoints;
  readonly #now: () => Date;
  /** One request per item at a time: KDS in particular rate-limits callers hard. */
  readonly #inflight = new Map<string, Promise<Lookup<unknown>>>();

  constructor(options: CollateralStoreOptions) {
    this.#options = options;
    this.#dir = options.dir;
    this.#network = options.network ?? false;
    this.#fetch = options.fetch ?? undiciFetch();
    this.#limits = { ...DEFAULT_HTTP_LIMITS, ...options.limits };
    this.#endpoints = { ...VENDOR_ENDPOINTS, ...options.endpoints };
    this.#now = options.now ?? (() => new Date());
  }

  get dir(): string {
    return this.#dir;
  }

  get network(): boolean {
    return this.#network;
  }

  /** The same cache with fetching off: for lookups that must not reach a vendor. */
  offline(): CollateralStore {
    return this.#network ? new CollateralStore({ ...this.#options, network: false }) : this;
  }

  snpVcek(product: SnpProduct, chipId: Uint8Array, reportedTcb: bigint): Promise<Lookup<Uint8Array>> {
    return this.#lookup(snpVcekItem(this.#endpoints, product, chipId, reportedTcb));
  }

  snpCertChain(product: SnpProduct, signer: KdsSigner = 'vcek'): Promise<Lookup<string>> {
    return this.#lookup(snpCertChainItem(this.#endpoints, product, signer));
  }

  snpCrl(product: SnpProduct, signer: KdsSigner = 'vcek'): Promise<Lookup<Uint8Array>> {
    return this.#lookup(snpCrlItem(this.#endpoints, product, signer));
  }

  tdxTcbInfo(fmspc: string): Promise<Lookup<SignedJsonCollateral>> {
    if (!/^[0-9a-fA-F]{12}$/.test(fmspc))
      return Promise.resolve({ status: 'failed', error: `not an FMSPC: ${JSON.stringify(fmspc)}` });
    return this.#lookup(tdxTcbInfoItem(this.#endpoints, fmspc));
  }

  tdxQeIdentity(): Promise<Lookup<SignedJsonCollateral>> {
    return this.#lookup(tdxQeIdentityItem(this.#endpoints));
  }

  tdxPckCrl(ca: PckCa): Promise<Lookup<PckCrlCollateral>> {
    return this.#lookup(tdxPckCrlItem(this.#endpoints, ca));
  }

  tdxRootCrl(): Promise<Lookup<Uint8Array>> {
    return this.#lookup(tdxRootCrlItem(this.#endpoints));
  }

  nvidiaRim(id: string): Promise<Lookup<string>> {
    if (!isRimId(id))
      return Promise.resolve({ status: 'failed', error: `not a RIM ID: ${JSON.stringify(id.slice(0, 80))}` });
    return this.#lookup(nvidiaRimItem(this.#endpoints, id));
  }

  /** The OCSP answer for one certificate of a chain that verified to the pinned roots (see nvidiaOcspItem). */
  nvidiaOcsp(query: OcspQuery): Promise<Lookup<StoredOcspAnswer>> {
    return this.#lookup(nvidiaOcspItem(this.#endpoints, query));
  }

  /** Lookups of one item that overlap share one read and at most one request. */
  #lookup<T>(item: CollateralItem<T>): Promise<Lookup<T>> {
    let pending = this.#inflight.get(item.file) as Promise<Lookup<T>> | undefined;
    if (!pending) {
      pending = this.#readOrFetch(item).finally(() => this.#inflight.delete(item.file));
      this.#inflight.set(item.file, pending);
    }
    return pending;
  }

  async #readOrFetch<T>(item: CollateralItem<T>): Promise<Lookup<T>> {
    const cached = await this.#read(item);
    if (cached && 'value' in cached) {
      const stale = this.#staleness(item, cached.value);
      if (stale === undefined) return { status: 'found', value: cached.value, from: 'cache' };
      if (!this.#network)
        return {
          status: 'found',
          value: cached.value,
          from: 'cache',
          stale: `${stale}; fetching is off, so the cached copy is used`,
        };
      const fresh = await this.#fetchAndStore(item);
      if (fresh.status === 'found') return fresh;
      return {
        status: 'found',
        value: cached.value,
        from: 'cache',
        stale: `${stale}; fetching a newer one failed: ${fresh.status === 'failed' ? fresh.error : fresh.reason}`,
      };
    }
    const damaged = cached ? `the cached ${item.file} is not usable: ${cached.invalid}` : undefined;
    if (!this.#network)
      return damaged
        ? { status: 'failed', error: damaged }
        : { status: 'missing', reason: `${item.what} is not in the cache (${item.file}) and fetching is off` };
    return this.#fetchAndStore(item);
  }

  #staleness<T>(item: CollateralItem<T>, value: T): string | undefined {
    const next = item.nextUpdate?.(value);
    if (next === undefined || this.#now().getTime() <= next.getTime()) return undefined;
    return `${item.what} is stale: its nextUpdate ${next.toISOString()} has passed`;
  }

  /** The cached item, its problem, or undefined when there is no file. */
  async #read<T>(item: CollateralItem<T>): Promise<Parsed<T> | undefined> {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFile(join(this.#dir, item.file)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      return { invalid: `cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
    }
    let chain: string | undefined;
    if (item.issuerChain) {
      try {
        chain = await readFile(join(this.#dir, item.issuerChain.file), 'utf8');
      } catch {
        chain = undefined; // the verifier says what a missing issuer chain means
      }
    }
    return item.read(bytes, chain);
  }

  async #fetchAndStore<T>(item: CollateralItem<T>): Promise<Lookup<T>> {
    const where = `${item.what} (${redactUrl(item.url)})`;
    let answer: HttpAnswer;
    try {
      answer = await this.#fetch(item.url, this.#limits, item.request);
    } catch (err) {
      return { status: 'failed', error: `${item.service} did not answer for ${where}: ${errorText(err)}` };
    }
    if (answer.status !== 200)
      return { status: 'failed', error: `${item.service} answered ${answer.status} for ${where}` };
    if (answer.body.length > this.#limits.maxBytes)
      return {
        status: 'failed',
        error: `${item.service} answered more than ${this.#limits.maxBytes} bytes for ${where}: refused`,
      };
    const unwrapped = item.unwrap ? item.unwrap(answer.body) : { value: answer.body };
    if ('invalid' in unwrapped)
      return { status: 'failed', error: `${item.service} answered something else than ${where}: ${unwrapped.invalid}` };
    const chain = item.issuerChain ? issuerChainFrom(answer.headers, item.issuerChain.headers) : undefined;
    const parsed = item.read(unwrapped.value, chain);
    if ('invalid' in parsed)
      return { status: 'failed', error: `${item.service} answered something else than ${where}: ${parsed.invalid}` };
    let warning: string | undefined;
    try {
      // The main file last: once it is there, the entry is complete.
      if (item.issuerChain && chain !== undefined) await writeAtomically(join(this.#dir, item.issuerChain.file), chain);
      await writeAtomically(join(this.#dir, item.file), unwrapped.value);
    } catch (err) {
      warning = `fetched but not stored in ${item.file}: ${errorText(err)}`;
    }
    const stale = this.#staleness(item, parsed.value);
    const value = item.fromVendor ? item.fromVendor(parsed.value) : parsed.value;
    return {
      status: 'found',
      value,
      from: 'vendor',
      ...(stale ? { stale: `${stale}, even in the copy just fetched` } : {}),
      ...(warning ? { warning } : {}),
    };
  }
}

/** PCS sends the chain URL-encoded in a header; it is stored as the PEM it encodes. */
function issuerChainFrom(headers: Readonly<Record<string, string>>, names: readonly string[]): string | undefined {
  for (const name of names) {
    const value = headers[name];
    if (value === undefined) continue;
    try {
      return value.includes('%') ? decodeURIComponent(value) : value;
    } catch {
      return value;
    }
  }
  return undefined;
}

/** Readers never see a half-written file: they find the old one or the new one. */
async function writeAtomically(path: string, data: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temp, data, { flag: 'wx', mode: 0o644 });
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/** An error as text for a message: its code or name and message, with any URL credentials cut out. */
function errorText(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown; message?: unknown };
  const text = `${typeof e?.code === 'string' ? `${e.code}: ` : ''}${typeof e?.message === 'string' ? e.message : String(err)}`;
  return text.replace(/\/\/[^/\s@]*@/g, '//');
}

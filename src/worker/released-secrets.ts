/**
 * The worker proxy's secret lookup backed by the secret service (docs/protocol.md, "Secret
 * release"): a watch prefetches every secret this worker may have as clients exchange them, and a
 * miss asks the service by ID (a secret exchanged before the watch was up, or while it was down).
 * Both go over mutual TLS with the pod's own workload certificate from the `attestor init` volume,
 * trusting only the mesh CA from `mesh-ca.pem`. When `attestor init --renew` or a Manifest change
 * replaces those files, the next call uses the new ones. Secrets stay in memory until they expire;
 * none is ever logged.
 */
import type { ParsedSecretRelease } from '../protocol/inference/secret-release.ts';
import { SecretReleaseClient } from '../secrets/release-client.ts';
import { readWorkloadFiles, type WorkloadFiles, workloadFilesChanged } from '../secrets/workload-files.ts';
import type { SecretLookup } from './worker-proxy.ts';

export interface ReleasedSecretsOptions {
  /** The secret service's base URL, https://. */
  url: string;
  /** The `attestor init` volume: cert.pem, key.pem, mesh-ca.pem. */
  certificateDir: string;
  /** The clock, ms (tests). */
  now?: () => number;
  /** Operational events (never a secret). */
  log?: (level: 'info' | 'warn', message: string) => void;
  /** The longest wait before the watch is dialled again after it broke (default 30 s). */
  maxRetryMs?: number;
}

export interface ReleasedSecrets extends SecretLookup {
  /** Resolves once the first watch is established (the service sent its ready event). */
  readonly watching: Promise<void>;
  /** How many secrets are held now (no IDs, no values). */
  size(): number;
  close(): void;
}

const FIRST_RETRY_MS = 500;

/** Starts the watch and returns the lookup; throws when the certificate volume cannot be read. */
export async function startReleasedSecrets(options: ReleasedSecretsOptions): Promise<ReleasedSecrets> {
  const now = options.now ?? Date.now;
  const log = options.log ?? (() => {});
  const maxRetryMs = options.maxRetryMs ?? 30_000;
  const held = new Map<string, ParsedSecretRelease>();
  const stop = new AbortController();
  let files: WorkloadFiles = await readWorkloadFiles(options.certificateDir);
  let client = clientFor(files);
  let markWatching: () => void = () => {};
  const watching = new Promise<void>((resolve) => {
    markWatching = resolve;
  });

  function clientFor(current: WorkloadFiles): SecretReleaseClient {
    return new SecretReleaseClient({
      url: options.url,
      cert: current.certificatePem,
      key: current.keyPem,
      meshCa: current.meshCa,
    });
  }

  /** The client for the volume's current files: a renewed certificate or a new mesh CA replaces it. */
  async function currentClient(): Promise<SecretReleaseClient> {
    try {
      if (await workloadFilesChanged(options.certificateDir, files)) {
        files = await readWorkloadFiles(options.certificateDir);
        client.close();
        client = clientFor(files);
        log('info', `the workload certificate in ${options.certificateDir} changed: asking with the new one`);
      }
    } catch (err) {
      // attestor init withdrew or is replacing the files: keep the client until they are whole again.
      log('warn', `the workload certificate volume cannot be read: ${(err as Error).message}`);
    }
    return client;
  }

  function keep(release: ParsedSecretRelease): void {
    const at = now();
    if (release.expiresAt.getTime() <= at) return;
    for (const [id, other] of held) if (other.expiresAt.getTime() <= at) held.delete(id);
    held.set(release.id, release);
  }

  async function watchLoop(): Promise<void> {
    let wait = FIRST_RETRY_MS;
    while (!stop.signal.aborted) {
      try {
        const watch = (await currentClient()).watch({
          signal: stop.signal,
          onReady: () => {
            wait = FIRST_RETRY_MS;
            markWatching();
          },
        });
        for await (const release of watch) keep(release);
      } catch (err) {
        if (stop.signal.aborted) return;
        log('warn', `the secret watch broke (${(err as Error).message}); dialling again in ${wait} ms`);
      }
      if (stop.signal.aborted) return;
      await pause(wait, stop.signal);
      wait = Math.min(wait * 2, maxRetryMs);
    }
  }
  void watchLoop();

  return {
    watching,
    size: () => held.size,
    async get(id) {
      const found = held.get(id);
      if (found && found.expiresAt.getTime() > now()) return found;
      if (found) held.delete(id);
      const release = await (await currentClient()).get(id);
      if (release === undefined) return undefined;
      keep(release);
      return release;
    },
    close() {
      stop.abort();
      client.close();
      held.clear();
    },
  };
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

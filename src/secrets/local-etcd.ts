/**
 * A one-member secret store on loopback, as tests (and later `attestor dev`) run it: the etcd the
 * project builds (bin/etcd), separate from any cluster's, serving clients over TLS only with a
 * `secret-store` workload certificate, and requiring client certificates from the mesh CA
 * (`--client-cert-auth`, `--trusted-ca-file`). Peer traffic of a one-member cluster stays on
 * loopback. `startLocalStoreMember` starts one member of a several-member store with the chart's
 * flags (store-member.ts: peer traffic with mesh certificates too), for the tests that prove a
 * member without a mesh certificate cannot join.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { defaultBinDir } from '../dev/control-plane.ts';
import { ManagedProcess } from '../dev/process.ts';
import { type StoreMemberOptions, secretStoreMemberArgs } from './store-member.ts';

export interface LocalEtcdOptions {
  /** Data and log go here. */
  dir: string;
  clientPort: number;
  peerPort: number;
  /** The member's certificate (PEM, a secret-store workload certificate) and key. */
  certFile: string;
  keyFile: string;
  /** The mesh CA: the only issuer of client certificates etcd accepts. */
  trustedCaFile: string;
  binDir?: string;
}

export interface LocalEtcd {
  endpoint: string;
  process: ManagedProcess;
  logFile: string;
  dataDir: string;
}

export function localEtcdArgs(options: LocalEtcdOptions, dataDir: string): string[] {
  const client = `https://127.0.0.1:${options.clientPort}`;
  const peer = `http://127.0.0.1:${options.peerPort}`;
  return [
    '--name=secret-store',
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=secret-store=${peer}`,
    `--cert-file=${options.certFile}`,
    `--key-file=${options.keyFile}`,
    '--client-cert-auth=true',
    `--trusted-ca-file=${options.trustedCaFile}`,
    '--unsafe-no-fsync=true',
    '--log-level=warn',
  ];
}

/** Starts the member; the caller waits for it to answer (it needs a client certificate to ask). */
export function startLocalEtcd(options: LocalEtcdOptions): LocalEtcd {
  mkdirSync(options.dir, { recursive: true });
  const dataDir = join(options.dir, 'data');
  const logFile = join(options.dir, 'etcd.log');
  const process = new ManagedProcess({
    name: 'secret-store etcd',
    command: join(options.binDir ?? defaultBinDir, 'etcd'),
    args: localEtcdArgs(options, dataDir),
    logFile,
  });
  process.start();
  return { endpoint: `https://127.0.0.1:${options.clientPort}`, process, logFile, dataDir };
}

/**
 * Starts one member of a several-member store on loopback with the chart's flags, plus the test
 * settings (no fsync, warnings only); `options.dataDir` is its data. The log is `<dir>/etcd.log`.
 */
export function startLocalStoreMember(options: StoreMemberOptions & { dir: string; binDir?: string }): {
  process: ManagedProcess;
  logFile: string;
} {
  mkdirSync(options.dir, { recursive: true });
  const logFile = join(options.dir, 'etcd.log');
  const process = new ManagedProcess({
    name: `secret-store etcd ${options.name}`,
    command: join(options.binDir ?? defaultBinDir, 'etcd'),
    args: [...secretStoreMemberArgs(options), '--unsafe-no-fsync=true', '--log-level=warn'],
    logFile,
  });
  process.start();
  return { process, logFile };
}

/**
 * A real Kubernetes control plane on loopback: etcd, kube-apiserver and, where the flow needs
 * them, kube-controller-manager, kube-scheduler and kwok (fake GPU nodes that run bound pods).
 * Binaries come from hack/control-plane/build (bin/). Used by the tests and by `attestor dev`.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { errorMessage } from '../errors.ts';
import { issueCertificate, type KeyAndCertificate } from '../tls/certificates.ts';
import {
  type Component,
  type ComponentPorts,
  etcd,
  kubeApiServer,
  kubeControllerManager,
  kubeScheduler,
  kwok,
} from './control-plane-components.ts';
import { clientKubeconfig, createPki, type Pki, writeControlPlaneFiles } from './control-plane-pki.ts';
import { httpStatus } from './http-status.ts';
import { freePorts } from './ports.ts';
import { ManagedProcess } from './process.ts';
import { waitFor } from './wait.ts';

export const projectRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const defaultBinDir = join(projectRoot, 'bin');

export interface ControlPlaneOptions {
  /** Where the binaries are (default: <project>/bin). */
  binDir?: string;
  /** State directory; a temporary one (removed on stop) when absent. */
  dataDir?: string;
  /** Start kube-controller-manager (garbage collection, ReplicaSets, service accounts). Default true. */
  controllerManager?: boolean;
  /** Start kube-scheduler. Default true. */
  scheduler?: boolean;
  /** Start kwok to run pods on fake nodes. Default true. */
  kwok?: boolean;
  /** Called with progress lines. */
  log?: (line: string) => void;
  /** More flags for a component, by its name (e.g. client QPS for kube-scheduler in the scale bench). */
  extraArgs?: Partial<Record<'kube-controller-manager' | 'kube-scheduler', readonly string[]>>;
}

export interface GpuNodeOptions {
  gpus?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  taints?: k8s.V1Taint[];
}

export class ControlPlane {
  readonly dataDir: string;
  readonly binDir: string;
  readonly apiServerUrl: string;
  readonly kubeconfigPath: string;
  readonly #ownsDataDir: boolean;
  readonly #pki: Pki;
  readonly #ports: ComponentPorts;
  readonly #processes = new Map<string, ManagedProcess>();
  readonly #log: (line: string) => void;

  private constructor(
    dataDir: string,
    ownsDataDir: boolean,
    binDir: string,
    pki: Pki,
    ports: ComponentPorts,
    log: (line: string) => void,
  ) {
    this.dataDir = dataDir;
    this.#ownsDataDir = ownsDataDir;
    this.binDir = binDir;
    this.#pki = pki;
    this.#ports = ports;
    this.apiServerUrl = `https://127.0.0.1:${ports.apiServer}`;
    this.kubeconfigPath = join(dataDir, 'kubeconfig');
    this.#log = log;
  }

  /** Starts the control plane and resolves once the API server is ready (and the other parts started). */
  static async start(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const binDir = options.binDir ?? defaultBinDir;
    for (const name of ['etcd', 'kube-apiserver']) {
      if (!existsSync(join(binDir, name)))
        throw new Error(
          `${join(binDir, name)} not found: run "npm run cluster:build" (hack/control-plane/build) first`,
        );
    }
    const ownsDataDir = options.dataDir === undefined;
    const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'attestor-cp-'));
    mkdirSync(join(dataDir, 'pki'), { recursive: true });
    mkdirSync(join(dataDir, 'logs'), { recursive: true });
    const pki = await createPki();
    const [etcdClient, etcdPeer, apiServer, controllerManager, scheduler, kwokPort] = (await freePorts(6)) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const ports = { etcdClient, etcdPeer, apiServer, controllerManager, scheduler, kwok: kwokPort };
    const plane = new ControlPlane(dataDir, ownsDataDir, binDir, pki, ports, options.log ?? (() => {}));
    try {
      await writeControlPlaneFiles(dataDir, pki, plane.apiServerUrl);
      await plane.#start(etcd(dataDir, plane.#ports));
      await plane.startApiServer(options.controllerManager !== false);
      const rest: Component[] = [];
      if (options.controllerManager !== false) rest.push(kubeControllerManager(dataDir, plane.#ports));
      if (options.scheduler !== false) rest.push(kubeScheduler(dataDir, plane.#ports));
      if (options.kwok !== false) rest.push(kwok(dataDir, binDir, plane.#ports));
      const withExtra = (c: Component): Component => {
        const extra = options.extraArgs?.[c.name as keyof NonNullable<ControlPlaneOptions['extraArgs']>];
        return extra ? { ...c, args: [...c.args, ...extra] } : c;
      };
      await Promise.all(rest.map((component) => plane.#start(withExtra(component))));
      return plane;
    } catch (err) {
      await plane.stop();
      throw err;
    }
  }

  /** A KubeConfig for the cluster admin (system:masters). */
  kubeConfig(): k8s.KubeConfig {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(this.kubeconfigPath);
    return kc;
  }

  /**
   * A KubeConfig that impersonates a user: for tests of who may do what. (client-node sends only
   * Impersonate-User, not the groups: use clientKubeConfig for an identity with groups.)
   */
  kubeConfigAs(user: string, groups: string[] = []): k8s.KubeConfig {
    const kc = this.kubeConfig();
    const current = kc.getCurrentUser()!;
    kc.users = kc.users.map((u) =>
      u.name === current.name ? ({ ...u, impersonateUser: user, impersonateGroups: groups } as k8s.User) : u,
    );
    return kc;
  }

  /**
   * A KubeConfig that authenticates with a client certificate from the cluster CA (CN = user,
   * O = groups), e.g. a node identity: clientKubeConfig('system:node:gpu-1', ['system:nodes']).
   */
  async clientKubeConfig(user: string, groups: string[] = []): Promise<k8s.KubeConfig> {
    const credentials = await issueCertificate(this.#pki.ca, {
      commonName: user,
      organizations: groups,
      usage: 'client',
    });
    const kc = new k8s.KubeConfig();
    kc.loadFromString(clientKubeconfig(this.apiServerUrl, this.#pki.ca.certificatePem, user, credentials));
    return kc;
  }

  /**
   * The CA of the client certificate the API server presents to webhooks (its
   * AdmissionConfiguration names a kubeconfig with it): a webhook that trusts only this CA
   * answers only the API server.
   */
  get webhookClientCaFile(): string {
    return join(this.dataDir, 'pki', 'webhook-client-ca.crt');
  }

  /** The API server's audit log (JSON lines): service accounts' calls, metadata only. */
  get auditLogPath(): string {
    return join(this.dataDir, 'logs', 'audit.log');
  }

  get webhookClientCaPem(): string {
    return this.#pki.webhookClientCa.certificatePem;
  }

  /** The cluster CA certificate (PEM), for clients and caBundles. */
  get caPem(): string {
    return this.#pki.ca.certificatePem;
  }

  /** The CA itself, to issue loopback serving certificates (e.g. for webhooks). */
  get certificateAuthority(): KeyAndCertificate {
    return this.#pki.ca;
  }

  process(name: string): ManagedProcess | undefined {
    return this.#processes.get(name);
  }

  /** Starts kube-apiserver (again, after stopApiServer) and waits until it is ready. */
  async startApiServer(serviceAccountAdmission = true): Promise<void> {
    await this.#start(kubeApiServer(this.dataDir, this.#ports, serviceAccountAdmission));
  }

  /** Stops the API server (the rest keeps running), as tests of informer recovery want. */
  async stopApiServer(): Promise<void> {
    await this.#processes.get('kube-apiserver')?.stop();
  }

  /** Stops etcd, keeping its data (the API server keeps running and fails its calls meanwhile): tests of the store restarting. */
  async stopEtcd(): Promise<void> {
    await this.#processes.get('etcd')?.stop();
  }

  /** Starts etcd again (after stopEtcd) on the same ports and data, and waits until it is healthy. */
  async startEtcd(): Promise<void> {
    await this.#start(etcd(this.dataDir, this.#ports));
  }

  /** Creates a Node that kwok manages, with nvidia.com/gpu capacity. */
  async createGpuNode(name: string, options: GpuNodeOptions = {}): Promise<k8s.V1Node> {
    const core = this.kubeConfig().makeApiClient(k8s.CoreV1Api);
    const capacity = { cpu: '64', memory: '512Gi', pods: '110', 'nvidia.com/gpu': String(options.gpus ?? 8) };
    return core.createNode({
      body: {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name,
          annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0', ...options.annotations },
          labels: {
            'kubernetes.io/arch': 'amd64',
            'kubernetes.io/os': 'linux',
            'kubernetes.io/hostname': name,
            type: 'kwok',
            ...options.labels,
          },
        },
        spec: { taints: options.taints ?? [] },
        status: { allocatable: capacity, capacity, phase: 'Running' },
      },
    });
  }

  /** Stops every process (in reverse start order) and removes a temporary data dir. */
  async stop(): Promise<void> {
    const order = ['kwok', 'kube-scheduler', 'kube-controller-manager', 'kube-apiserver', 'etcd'];
    for (const name of order) await this.#processes.get(name)?.stop();
    this.#processes.clear();
    if (this.#ownsDataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** Spawns a component and waits until its ready URL answers 200 (or fails with its log's tail). */
  async #start(component: Component): Promise<void> {
    const proc = this.#spawn(component.name, component.args);
    const path = new URL(component.readyUrl).pathname;
    await waitFor(
      async () => {
        if (proc.exitCode !== undefined)
          throw new Error(`${component.name} exited with ${proc.exitCode}; see ${proc.spec.logFile}`);
        // Authenticates as the admin: the API server's /readyz is not public.
        const tls = {
          ca: this.#pki.ca.certificatePem,
          cert: this.#pki.admin.certificatePem,
          key: this.#pki.admin.privateKeyPem,
          rejectUnauthorized: component.verifyCa,
        };
        return (await httpStatus(component.readyUrl, tls)) === 200;
      },
      {
        timeoutMs: component.timeoutMs,
        ...(component.intervalMs !== undefined ? { intervalMs: component.intervalMs } : {}),
        description: `${component.name} ${path}`,
      },
    ).catch((err) => {
      throw withLogTail(err, proc.spec.logFile);
    });
    this.#log(`${component.name} ready at ${new URL(component.readyUrl).origin}`);
  }

  #spawn(name: string, args: string[]): ManagedProcess {
    const proc = new ManagedProcess({
      name,
      command: join(this.binDir, name),
      args,
      logFile: join(this.dataDir, 'logs', `${name}.log`),
    });
    proc.start();
    this.#processes.set(name, proc);
    return proc;
  }
}

function withLogTail(err: unknown, logFile: string): Error {
  let tail = '';
  try {
    tail = readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    // no log yet
  }
  return new Error(`${errorMessage(err)}\n--- last lines of ${logFile} ---\n${tail}`);
}

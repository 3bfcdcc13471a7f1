/**
 * A real Kubernetes control plane on loopback: etcd, kube-apiserver and, where the flow needs
 * them, kube-controller-manager, kube-scheduler and kwok (fake GPU nodes that run bound pods).
 * Binaries come from hack/control-plane/build (bin/). Used by the tests and by `attestor dev`.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { errorMessage } from '../errors.ts';
import {
  createCertificateAuthority,
  createSigningKeyPair,
  issueCertificate,
  type KeyAndCertificate,
} from '../tls/certificates.ts';
import { freePorts } from './ports.ts';
import { ManagedProcess } from './process.ts';
import { waitFor } from './wait.ts';

export const projectRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const defaultBinDir = join(projectRoot, 'bin');
export const SERVICE_CLUSTER_IP_RANGE = '10.0.0.0/24';

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
}

export interface GpuNodeOptions {
  gpus?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  taints?: k8s.V1Taint[];
}

interface Pki {
  ca: KeyAndCertificate;
  admin: KeyAndCertificate;
  controllerManager: KeyAndCertificate;
  scheduler: KeyAndCertificate;
  kwok: KeyAndCertificate;
  /** Signs only the API server's webhook client certificate, so that webhooks can trust exactly that. */
  webhookClientCa: KeyAndCertificate;
  webhookClient: KeyAndCertificate;
}

export class ControlPlane {
  readonly dataDir: string;
  readonly binDir: string;
  readonly apiServerUrl: string;
  readonly kubeconfigPath: string;
  readonly #ownsDataDir: boolean;
  readonly #pki: Pki;
  readonly #ports: {
    etcdClient: number;
    etcdPeer: number;
    apiServer: number;
    controllerManager: number;
    scheduler: number;
    kwok: number;
  };
  readonly #processes = new Map<string, ManagedProcess>();
  readonly #log: (line: string) => void;

  private constructor(
    dataDir: string,
    ownsDataDir: boolean,
    binDir: string,
    pki: Pki,
    ports: number[],
    log: (line: string) => void,
  ) {
    this.dataDir = dataDir;
    this.#ownsDataDir = ownsDataDir;
    this.binDir = binDir;
    this.#pki = pki;
    const [etcdClient, etcdPeer, apiServer, controllerManager, scheduler, kwok] = ports as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    this.#ports = { etcdClient, etcdPeer, apiServer, controllerManager, scheduler, kwok };
    this.apiServerUrl = `https://127.0.0.1:${apiServer}`;
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
    const ports = await freePorts(6);
    const plane = new ControlPlane(dataDir, ownsDataDir, binDir, pki, ports, options.log ?? (() => {}));
    try {
      await plane.#writeFiles();
      await plane.#startEtcd();
      await plane.startApiServer(options.controllerManager !== false);
      const rest: Promise<void>[] = [];
      if (options.controllerManager !== false) rest.push(plane.#startControllerManager());
      if (options.scheduler !== false) rest.push(plane.#startScheduler());
      if (options.kwok !== false) rest.push(plane.#startKwok());
      await Promise.all(rest);
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
    kc.loadFromString(this.#kubeconfig(user, credentials));
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

  async startApiServer(serviceAccountAdmission = true): Promise<void> {
    const pkiDir = join(this.dataDir, 'pki');
    const args = [
      `--etcd-servers=http://127.0.0.1:${this.#ports.etcdClient}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${this.#ports.apiServer}`,
      `--cert-dir=${join(this.dataDir, 'apiserver-certs')}`,
      `--tls-cert-file=${join(pkiDir, 'apiserver.crt')}`,
      `--tls-private-key-file=${join(pkiDir, 'apiserver.key')}`,
      `--client-ca-file=${join(pkiDir, 'ca.crt')}`,
      `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(pkiDir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(pkiDir, 'sa.key')}`,
      '--authorization-mode=Node,RBAC',
      '--allow-privileged=true',
      '--enable-priority-and-fairness=false',
      '--profiling=false',
      '--endpoint-reconciler-type=none',
      // Gives the API server a client certificate for webhooks (WebhookAdmissionConfiguration).
      `--admission-control-config-file=${join(this.dataDir, 'admission-config.yaml')}`,
    ];
    if (!serviceAccountAdmission) args.push('--disable-admission-plugins=ServiceAccount');
    const proc = this.#spawn('kube-apiserver', args);
    await waitFor(
      async () => {
        if (proc.exitCode !== undefined)
          throw new Error(`kube-apiserver exited with ${proc.exitCode}; see ${proc.spec.logFile}`);
        return (await this.#get(this.apiServerUrl + '/readyz')) === 200;
      },
      { timeoutMs: 90_000, intervalMs: 200, description: 'kube-apiserver /readyz' },
    ).catch((err) => {
      throw withLogTail(err, proc.spec.logFile);
    });
    this.#log(`kube-apiserver ready at ${this.apiServerUrl}`);
  }

  /** Stops the API server (the rest keeps running), as tests of informer recovery want. */
  async stopApiServer(): Promise<void> {
    await this.#processes.get('kube-apiserver')?.stop();
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

  async #writeFiles(): Promise<void> {
    const pkiDir = join(this.dataDir, 'pki');
    const sa = await createSigningKeyPair();
    const serving = await issueCertificate(this.#pki.ca, {
      commonName: 'kube-apiserver',
      usage: 'server',
      dnsNames: [
        'localhost',
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        'kubernetes.default.svc.cluster.local',
      ],
      ipAddresses: ['127.0.0.1', '10.0.0.1'],
    });
    const files: Record<string, string> = {
      'ca.crt': this.#pki.ca.certificatePem,
      'apiserver.crt': serving.certificatePem,
      'apiserver.key': serving.privateKeyPem,
      'sa.key': sa.privateKeyPem,
      'sa.pub': sa.publicKeyPem,
      'admin.crt': this.#pki.admin.certificatePem,
      'admin.key': this.#pki.admin.privateKeyPem,
      'webhook-client-ca.crt': this.#pki.webhookClientCa.certificatePem,
    };
    for (const [name, content] of Object.entries(files)) writeFileSync(join(pkiDir, name), content, { mode: 0o600 });
    writeFileSync(join(this.dataDir, 'webhook-client.kubeconfig'), webhookClientKubeconfig(this.#pki.webhookClient), {
      mode: 0o600,
    });
    writeFileSync(
      join(this.dataDir, 'admission-config.yaml'),
      admissionConfiguration(join(this.dataDir, 'webhook-client.kubeconfig')),
      { mode: 0o600 },
    );
    writeFileSync(this.kubeconfigPath, this.#kubeconfig('admin', this.#pki.admin), { mode: 0o600 });
    writeFileSync(
      join(this.dataDir, 'controller-manager.kubeconfig'),
      this.#kubeconfig('kube-controller-manager', this.#pki.controllerManager),
      { mode: 0o600 },
    );
    writeFileSync(join(this.dataDir, 'scheduler.kubeconfig'), this.#kubeconfig('kube-scheduler', this.#pki.scheduler), {
      mode: 0o600,
    });
    writeFileSync(join(this.dataDir, 'kwok.kubeconfig'), this.#kubeconfig('kwok', this.#pki.kwok), { mode: 0o600 });
  }

  #kubeconfig(user: string, credentials: KeyAndCertificate): string {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: attestor-local',
      '  cluster:',
      `    server: ${this.apiServerUrl}`,
      `    certificate-authority-data: ${b64(this.#pki.ca.certificatePem)}`,
      'users:',
      `- name: ${user}`,
      '  user:',
      `    client-certificate-data: ${b64(credentials.certificatePem)}`,
      `    client-key-data: ${b64(credentials.privateKeyPem)}`,
      'contexts:',
      `- name: ${user}@attestor-local`,
      '  context:',
      '    cluster: attestor-local',
      `    user: ${user}`,
      `current-context: ${user}@attestor-local`,
      '',
    ].join('\n');
  }

  async #startEtcd(): Promise<void> {
    const { etcdClient, etcdPeer } = this.#ports;
    const proc = this.#spawn('etcd', [
      '--name=default',
      `--data-dir=${join(this.dataDir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ]);
    await waitFor(
      async () => {
        if (proc.exitCode !== undefined) throw new Error(`etcd exited with ${proc.exitCode}; see ${proc.spec.logFile}`);
        return (await this.#get(`http://127.0.0.1:${etcdClient}/health`)) === 200;
      },
      { timeoutMs: 30_000, description: 'etcd /health' },
    ).catch((err) => {
      throw withLogTail(err, proc.spec.logFile);
    });
    this.#log(`etcd ready at 127.0.0.1:${etcdClient}`);
  }

  async #startControllerManager(): Promise<void> {
    const kubeconfig = join(this.dataDir, 'controller-manager.kubeconfig');
    const pkiDir = join(this.dataDir, 'pki');
    const proc = this.#spawn('kube-controller-manager', [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${this.#ports.controllerManager}`,
      `--cert-dir=${join(this.dataDir, 'controller-manager-certs')}`,
      `--service-account-private-key-file=${join(pkiDir, 'sa.key')}`,
      `--root-ca-file=${join(pkiDir, 'ca.crt')}`,
      `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
      '--use-service-account-credentials=false',
      '--profiling=false',
    ]);
    await this.#waitHealthy(proc, this.#ports.controllerManager);
    this.#log('kube-controller-manager ready');
  }

  async #startScheduler(): Promise<void> {
    const kubeconfig = join(this.dataDir, 'scheduler.kubeconfig');
    const proc = this.#spawn('kube-scheduler', [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${this.#ports.scheduler}`,
      `--cert-dir=${join(this.dataDir, 'scheduler-certs')}`,
      '--profiling=false',
    ]);
    await this.#waitHealthy(proc, this.#ports.scheduler);
    this.#log('kube-scheduler ready');
  }

  async #startKwok(): Promise<void> {
    const proc = this.#spawn('kwok', [
      `--kubeconfig=${join(this.dataDir, 'kwok.kubeconfig')}`,
      `--config=${join(this.binDir, 'kwok-stages.yaml')}`,
      '--manage-all-nodes=false',
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      '--cidr=10.244.0.0/16',
      '--node-ip=127.0.0.1',
      `--node-port=0`,
      `--server-address=127.0.0.1:${this.#ports.kwok}`,
    ]);
    await waitFor(
      async () => {
        if (proc.exitCode !== undefined) throw new Error(`kwok exited with ${proc.exitCode}; see ${proc.spec.logFile}`);
        return (await this.#get(`http://127.0.0.1:${this.#ports.kwok}/healthz`)) === 200;
      },
      { timeoutMs: 30_000, description: 'kwok /healthz' },
    ).catch((err) => {
      throw withLogTail(err, proc.spec.logFile);
    });
    this.#log('kwok ready');
  }

  async #waitHealthy(proc: ManagedProcess, port: number): Promise<void> {
    await waitFor(
      async () => {
        if (proc.exitCode !== undefined)
          throw new Error(`${proc.spec.name} exited with ${proc.exitCode}; see ${proc.spec.logFile}`);
        return (await this.#get(`https://127.0.0.1:${port}/healthz`, false)) === 200;
      },
      { timeoutMs: 60_000, intervalMs: 200, description: `${proc.spec.name} /healthz` },
    ).catch((err) => {
      throw withLogTail(err, proc.spec.logFile);
    });
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

  /** GET a URL; status code, or 0 when it cannot connect. Authenticates as admin to the API server. */
  #get(url: string, verifyCa = true): Promise<number> {
    return new Promise((resolveStatus) => {
      const u = new URL(url);
      const onResponse = (res: import('node:http').IncomingMessage) => {
        res.resume();
        resolveStatus(res.statusCode ?? 0);
      };
      const req =
        u.protocol === 'https:'
          ? httpsRequest(
              u,
              {
                ca: this.#pki.ca.certificatePem,
                cert: this.#pki.admin.certificatePem,
                key: this.#pki.admin.privateKeyPem,
                rejectUnauthorized: verifyCa,
                timeout: 2000,
              },
              onResponse,
            )
          : httpRequest(u, { timeout: 2000 }, onResponse);
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolveStatus(0));
      req.end();
    });
  }
}

async function createPki(): Promise<Pki> {
  const [ca, webhookClientCa] = await Promise.all([
    createCertificateAuthority('attestor-local-ca'),
    createCertificateAuthority('attestor-local-webhook-client-ca'),
  ]);
  const [admin, controllerManager, scheduler, kwok, webhookClient] = await Promise.all([
    issueCertificate(ca, { commonName: 'admin', organizations: ['system:masters'], usage: 'client' }),
    issueCertificate(ca, {
      commonName: 'system:kube-controller-manager',
      organizations: ['system:masters'],
      usage: 'client',
    }),
    issueCertificate(ca, { commonName: 'system:kube-scheduler', usage: 'client' }),
    issueCertificate(ca, { commonName: 'kwok', organizations: ['system:masters'], usage: 'client' }),
    issueCertificate(webhookClientCa, { commonName: 'kube-apiserver-webhook-client', usage: 'client' }),
  ]);
  return { ca, admin, controllerManager, scheduler, kwok, webhookClientCa, webhookClient };
}

/**
 * The kubeconfig the API server reads its webhook client credentials from. The user name is
 * matched against the webhook's host ("*": every webhook; a real cluster would name the
 * Service, e.g. attestor-webhook.attestor-system.svc:9443).
 */
export function webhookClientKubeconfig(client: KeyAndCertificate, webhookHost = '*'): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'users:',
    `- name: ${JSON.stringify(webhookHost)}`,
    '  user:',
    `    client-certificate-data: ${b64(client.certificatePem)}`,
    `    client-key-data: ${b64(client.privateKeyPem)}`,
    '',
  ].join('\n');
}

/** --admission-control-config-file: both webhook admission plugins use the kubeconfig above. */
export function admissionConfiguration(webhookKubeconfigPath: string): string {
  const plugin = (name: string) => [
    `- name: ${name}`,
    '  configuration:',
    '    apiVersion: apiserver.config.k8s.io/v1',
    '    kind: WebhookAdmissionConfiguration',
    `    kubeConfigFile: ${JSON.stringify(webhookKubeconfigPath)}`,
  ];
  return [
    'apiVersion: apiserver.config.k8s.io/v1',
    'kind: AdmissionConfiguration',
    'plugins:',
    ...plugin('ValidatingAdmissionWebhook'),
    ...plugin('MutatingAdmissionWebhook'),
    '',
  ].join('\n');
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

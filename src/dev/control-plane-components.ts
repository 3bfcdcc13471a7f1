/**
 * The command lines of the local control plane's components (etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler, kwok), all on loopback, and where each says it is
 * ready: pure. control-plane.ts starts them in this order.
 */
import { join } from 'node:path';

/** Room for a fleet's Services (the scale bench makes 1,000 AIWorkers, each with a Service). */
export const SERVICE_CLUSTER_IP_RANGE = '10.0.0.0/16';

export interface ComponentPorts {
  etcdClient: number;
  etcdPeer: number;
  apiServer: number;
  controllerManager: number;
  scheduler: number;
  kwok: number;
}

export interface Component {
  name: 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kwok';
  args: string[];
  /** Answers 200 once the component is ready. */
  readyUrl: string;
  /** Whether readyUrl's certificate is one from the cluster CA (the other HTTPS ones are self-signed). */
  verifyCa: boolean;
  timeoutMs: number;
  intervalMs?: number;
}

export function etcd(dataDir: string, ports: ComponentPorts): Component {
  const { etcdClient, etcdPeer } = ports;
  return {
    name: 'etcd',
    args: [
      '--name=default',
      `--data-dir=${join(dataDir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ],
    readyUrl: `http://127.0.0.1:${etcdClient}/health`,
    verifyCa: true,
    timeoutMs: 30_000,
  };
}

/** Without `serviceAccountAdmission` pods need no service account (no controller-manager to make them). */
export function kubeApiServer(dataDir: string, ports: ComponentPorts, serviceAccountAdmission: boolean): Component {
  const pkiDir = join(dataDir, 'pki');
  const args = [
    `--etcd-servers=http://127.0.0.1:${ports.etcdClient}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${ports.apiServer}`,
    `--cert-dir=${join(dataDir, 'apiserver-certs')}`,
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
    `--admission-control-config-file=${join(dataDir, 'admission-config.yaml')}`,
    // Service accounts' calls (the chart's RBAC test reads them): logs/audit.log, JSON lines.
    `--audit-policy-file=${join(dataDir, 'audit-policy.yaml')}`,
    `--audit-log-path=${join(dataDir, 'logs', 'audit.log')}`,
    '--audit-log-maxsize=200',
    '--audit-log-maxbackup=1',
  ];
  if (!serviceAccountAdmission) args.push('--disable-admission-plugins=ServiceAccount');
  return {
    name: 'kube-apiserver',
    args,
    readyUrl: `https://127.0.0.1:${ports.apiServer}/readyz`,
    verifyCa: true,
    timeoutMs: 90_000,
    intervalMs: 200,
  };
}

export function kubeControllerManager(dataDir: string, ports: ComponentPorts): Component {
  const kubeconfig = join(dataDir, 'controller-manager.kubeconfig');
  const pkiDir = join(dataDir, 'pki');
  return {
    name: 'kube-controller-manager',
    args: [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${ports.controllerManager}`,
      `--cert-dir=${join(dataDir, 'controller-manager-certs')}`,
      `--service-account-private-key-file=${join(pkiDir, 'sa.key')}`,
      `--root-ca-file=${join(pkiDir, 'ca.crt')}`,
      `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
      '--use-service-account-credentials=false',
      '--profiling=false',
      // kwok posts node status every 20-45 s; on a loaded machine that passes the 50 s default, the
      // node lifecycle controller marks the node's pods not Ready, and kwok never makes them Ready again.
      '--node-monitor-grace-period=10m',
    ],
    readyUrl: `https://127.0.0.1:${ports.controllerManager}/healthz`,
    verifyCa: false,
    timeoutMs: 60_000,
    intervalMs: 200,
  };
}

export function kubeScheduler(dataDir: string, ports: ComponentPorts): Component {
  const kubeconfig = join(dataDir, 'scheduler.kubeconfig');
  return {
    name: 'kube-scheduler',
    args: [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${ports.scheduler}`,
      `--cert-dir=${join(dataDir, 'scheduler-certs')}`,
      '--profiling=false',
    ],
    readyUrl: `https://127.0.0.1:${ports.scheduler}/healthz`,
    verifyCa: false,
    timeoutMs: 60_000,
    intervalMs: 200,
  };
}

/** kwok runs the pods bound to nodes annotated kwok.x-k8s.io/node=fake; its stages come from binDir. */
export function kwok(dataDir: string, binDir: string, ports: ComponentPorts): Component {
  return {
    name: 'kwok',
    args: [
      `--kubeconfig=${join(dataDir, 'kwok.kubeconfig')}`,
      `--config=${join(binDir, 'kwok-stages.yaml')}`,
      '--manage-all-nodes=false',
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      '--cidr=10.244.0.0/16',
      '--node-ip=127.0.0.1',
      `--node-port=0`,
      `--server-address=127.0.0.1:${ports.kwok}`,
    ],
    readyUrl: `http://127.0.0.1:${ports.kwok}/healthz`,
    verifyCa: true,
    timeoutMs: 30_000,
  };
}

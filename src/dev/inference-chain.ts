/**
 * The encrypted inference chain of `attestor dev` (issue 10): the secret service and its store as
 * pods on kwok, certified through their Manifest policies' roles by their `attestor init` (local,
 * with simulated pod VMs whose HOST_DATA / MRCONFIGID is their policy hash, pod-init.ts); a local
 * etcd (separate from the cluster's) serving the secret-store certificate and requiring client
 * certificates of the mesh CA; the secret service with the secret-service certificate; a worker
 * proxy in front of the model server (the embedded one, or `--upstream`) for each AI worker pod
 * once its init certified it; and a client proxy whose session trusts what verifying the
 * Coordinator gave it (the simulated roots, the sample Manifest's hash). Everything runs in this
 * process except etcd; nothing of a prompt, an answer or a secret is printed or logged.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { KATA_POLICY_ANNOTATION } from '../api/aiworker-labels.ts';
import type { Manifest } from '../api/manifest.ts';
import { workloadRole } from '../api/manifest-roles.ts';
import { readSimulatedRoots } from '../client/simulated-roots.ts';
import { verifyCoordinator } from '../client/verify-coordinator.ts';
import { policyHash } from '../controllers/aiworker/policy.ts';
import { type WorkloadPodSettings, withWorkloadInit } from '../controllers/aiworker/workload.ts';
import { startModelServer } from '../model-server/server.ts';
import type { Logger } from '../observability/log.ts';
import { secretServiceExchange } from '../proxy/secret-exchange.ts';
import { type ClientProxy, startClientProxy } from '../proxy/server.ts';
import { InferenceSession, type Trust } from '../proxy/session.ts';
import { startLocalEtcd } from '../secrets/local-etcd.ts';
import { startSecretService } from '../secrets/secret-service.ts';
import { startReleasedSecrets } from '../worker/released-secrets.ts';
import { startWorkerProxy, type WorkerProxy } from '../worker/worker-proxy.ts';
import type { DevPodInits } from './pod-init.ts';
import { freePorts } from './ports.ts';
import { type WaitOptions, waitFor } from './wait.ts';

export const SECRET_SERVICE_POD = 'secret-service';
export const SECRET_STORE_POD = 'secret-store';
/** The secret-store pod's etcd image (kwok runs nothing; dev runs bin/etcd in its place). */
const DEV_ETCD_IMAGE = `registry.example/etcd@sha256:${'0'.repeat(64)}`;

export interface DevInferenceChainOptions {
  kubeConfig: k8s.KubeConfig;
  namespace: string;
  /** The active Manifest (the sample): its secret-service and secret-store policies. */
  manifest: Manifest;
  /** Its hash, as a client pins it. */
  manifestHash: string;
  /** Where the policy documents are (samples/): the role pods run the ones the Manifest lists. */
  policyDir: string;
  /** The node the role pods are placed on. */
  nodeName: string;
  /** The `attestor init` settings of pod-CVM pods. */
  workload: WorkloadPodSettings;
  podInits: DevPodInits;
  coordinatorUrl: string;
  /** The simulated roots file `attestor dev` wrote. */
  rootsFile: string;
  allowAdminTrusted: boolean;
  /** The model server's base URL (no /v1); undefined: the embedded deterministic one. */
  upstream?: string;
  stateDir: string;
  log: Logger;
  print: (line: string) => void;
  printBare: (line: string) => void;
}

export interface DevInferenceChain {
  /** Resolves once the client proxy serves (its lines printed); rejects with why the chain did not come up. */
  ready: Promise<{ proxyUrl: string }>;
  /** Called with each certified pod (pod-init's onCertified): starts the worker proxy of an AI worker pod. */
  onCertified(pod: k8s.V1Pod, dir: string): void;
  stop(): Promise<void>;
}

/** Which of `policyDir`'s *.rego documents the Manifest lists for `role` (its first such entry). */
export function rolePolicy(
  manifest: Manifest,
  role: 'secret-service' | 'secret-store',
  policyDir: string,
): { document: string; hash: string } | undefined {
  const wanted = new Set(manifest.spec.policies.filter((p) => workloadRole(p) === role).map((p) => p.hash));
  for (const file of readdirSync(policyDir)
    .filter((f) => f.endsWith('.rego'))
    .sort()) {
    const document = readFileSync(join(policyDir, file), 'utf8');
    const hash = policyHash(document);
    if (wanted.has(hash)) return { document, hash };
  }
  return undefined;
}

export function startDevInferenceChain(options: DevInferenceChainOptions): DevInferenceChain {
  const { print, printBare, log } = options;
  const stops: Array<() => Promise<unknown>> = [];
  const abort = new AbortController();
  const workerProxies = new Map<string, Promise<WorkerProxy | undefined>>();
  const roleDirs = new Map<string, (dir: string) => void>();
  const roleCertified = new Map<string, Promise<string>>();
  for (const name of [SECRET_SERVICE_POD, SECRET_STORE_POD])
    roleCertified.set(name, new Promise((resolve) => roleDirs.set(name, resolve)));
  let secretServiceUrl: Promise<string> | undefined;
  let upstreamUrl: Promise<string> | undefined;
  /** The first worker proxy's address: the client proxy's endpoint. */
  let endpointUrl: string | undefined;

  const core = options.kubeConfig.makeApiClient(k8s.CoreV1Api);

  /** Stops `stop` with the chain, or now when the chain was stopped while it started. */
  async function own(stop: () => Promise<unknown>): Promise<void> {
    if (abort.signal.aborted) {
      await stop().catch(() => undefined);
      throw new Error('dev is stopping');
    }
    stops.push(stop);
  }

  /** waitFor that gives up at once when dev stops, so that stopping never waits out a timeout. */
  async function until<T>(
    probe: () => Promise<T | undefined | false> | T | undefined | false,
    wait: WaitOptions,
  ): Promise<T> {
    const found = await waitFor(async () => {
      if (abort.signal.aborted) return { stopped: true } as const;
      const value = await probe();
      return value === undefined || value === false ? undefined : { value };
    }, wait);
    if ('stopped' in found) throw new Error('dev is stopping');
    return found.value;
  }

  async function createRolePod(name: string, policy: string): Promise<void> {
    const spec = withWorkloadInit(
      {
        nodeName: options.nodeName,
        ...(options.manifest.spec.runtimeClasses?.[0]
          ? { runtimeClassName: options.manifest.spec.runtimeClasses[0] }
          : {}),
        automountServiceAccountToken: false,
        // kwok runs nothing: the containers say what runs in their place here (this process, bin/etcd).
        containers: [
          name === SECRET_SERVICE_POD
            ? {
                name,
                image: options.workload.initImage ?? '',
                args: ['secret-service', `--etcd=https://${SECRET_STORE_POD}.${options.namespace}.svc:2379`],
              }
            : { name: 'etcd', image: DEV_ETCD_IMAGE },
        ],
      },
      options.workload,
    );
    await core.createNamespacedPod({
      namespace: options.namespace,
      body: {
        metadata: {
          name,
          labels: { 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': 'attestor-dev' },
          annotations: { [KATA_POLICY_ANNOTATION]: Buffer.from(policy, 'utf8').toString('base64') },
        },
        spec,
      },
    });
    const pod = await until(
      async () => {
        const read = await core.readNamespacedPod({ name, namespace: options.namespace });
        return read.status?.podIP ? read : undefined;
      },
      { timeoutMs: 60_000, description: `pod ${options.namespace}/${name} to be scheduled with an IP` },
    );
    options.podInits.certify(pod);
  }

  async function startStoreAndService(): Promise<string> {
    const storeDir = await roleCertified.get(SECRET_STORE_POD)!;
    const serviceDir = await roleCertified.get(SECRET_SERVICE_POD)!;
    const [clientPort, peerPort, servicePort] = await freePorts(3);
    const etcd = startLocalEtcd({
      dir: join(options.stateDir, 'secret-store'),
      clientPort: clientPort!,
      peerPort: peerPort!,
      certFile: join(storeDir, 'cert.pem'),
      keyFile: join(storeDir, 'key.pem'),
      trustedCaFile: join(storeDir, 'mesh-ca.pem'),
    });
    await own(() => etcd.process.stop());
    await until(
      async () => {
        if (etcd.process.exitCode !== undefined)
          throw new Error(`the secret-store etcd exited; its log is ${etcd.logFile}`);
        return etcdHealthy(etcd.endpoint, serviceDir);
      },
      { timeoutMs: 60_000, description: 'the secret-store etcd to answer' },
    );
    print(
      `secret store: a local etcd (not the cluster's) on ${etcd.endpoint}, serving the secret-store pod's workload certificate and accepting only client certificates of the mesh CA (--client-cert-auth); data in ${etcd.dataDir}`,
    );
    const service = await startSecretService({
      host: '127.0.0.1',
      port: servicePort!,
      certDir: serviceDir,
      etcdEndpoints: [etcd.endpoint],
      log: log.child({ component: 'secret-service' }),
    });
    await own(() => service.close());
    print(
      `secret service on ${service.url} with the secret-service pod's workload certificate: the X-Wing key exchange, secrets sealed in the secret store under a key only it holds, released over mTLS to workers of the same mesh CA`,
    );
    return service.url;
  }

  async function upstream(): Promise<string> {
    if (options.upstream) return options.upstream.replace(/\/+$/, '').replace(/\/v1$/, '');
    const model = await startModelServer({ host: '127.0.0.1', port: 0 });
    await own(() => model.close());
    print(`model server: the embedded deterministic OpenAI-compatible server on ${model.url} (--upstream replaces it)`);
    return model.url.replace(/\/v1$/, '');
  }

  async function startWorker(pod: k8s.V1Pod, dir: string): Promise<WorkerProxy | undefined> {
    const { namespace, name } = pod.metadata as { namespace: string; name: string };
    secretServiceUrl ??= startStoreAndService();
    upstreamUrl ??= upstream();
    const [serviceUrl, modelUrl] = await Promise.all([secretServiceUrl, upstreamUrl]);
    if (abort.signal.aborted) return undefined;
    const secrets = await startReleasedSecrets({
      url: serviceUrl,
      certificateDir: dir,
      log: (level, message) => log[level]({ component: 'worker-proxy', pod: `${namespace}/${name}` }, message),
    });
    await own(async () => secrets.close());
    const proxy = await startWorkerProxy({
      host: '127.0.0.1',
      port: 0,
      certificateDir: dir,
      upstream: modelUrl,
      secrets,
      log: (level, message) => log[level]({ component: 'worker-proxy', pod: `${namespace}/${name}` }, message),
    });
    await own(() => proxy.close());
    print(
      `worker proxy of pod ${namespace}/${name} on ${proxy.url}: TLS with the pod's workload certificate, secrets released by the secret service, in front of ${modelUrl}`,
    );
    endpointUrl ??= proxy.url;
    return proxy;
  }

  async function startClient(): Promise<{ proxyUrl: string }> {
    const store = rolePolicy(options.manifest, 'secret-store', options.policyDir);
    const service = rolePolicy(options.manifest, 'secret-service', options.policyDir);
    if (!store || !service)
      throw new Error(
        `the Manifest lists no secret-service and secret-store policy whose document is in ${options.policyDir}`,
      );
    await createRolePod(SECRET_STORE_POD, store.document);
    await createRolePod(SECRET_SERVICE_POD, service.document);
    print(
      `created pods ${options.namespace}/${SECRET_STORE_POD} and ${options.namespace}/${SECRET_SERVICE_POD} (kwok) with the Manifest's secret-store and secret-service policies; their attestor init certifies them through the policy's role`,
    );
    secretServiceUrl ??= startStoreAndService();
    const endpoint = await until(() => endpointUrl, {
      timeoutMs: 180_000,
      intervalMs: 250,
      description: 'a certified AI worker pod with its worker proxy',
    });
    const serviceUrl = await secretServiceUrl;
    const simulatedRoots = readSimulatedRoots(readFileSync(options.rootsFile, 'utf8'));
    const check = {
      coordinator: options.coordinatorUrl,
      manifestHash: options.manifestHash,
      simulatedRoots,
      allowAdminTrusted: options.allowAdminTrusted,
    };
    const verify = async (): Promise<Trust | undefined> => {
      const verified = await verifyCoordinator(check);
      return verified.verified && verified.meshCA && verified.manifest
        ? { meshCA: verified.meshCA, manifest: verified.manifest }
        : undefined;
    };
    // The Coordinator proves itself once its own evidence met the Manifest: wait for that.
    const trust = await until(verify, {
      timeoutMs: 120_000,
      intervalMs: 500,
      description: 'the Coordinator to pass verification against the sample Manifest',
    });
    const session = new InferenceSession({
      meshCA: trust.meshCA,
      manifest: trust.manifest,
      exchange: secretServiceExchange({ url: serviceUrl, ca: trust.meshCA, ignoreHostName: true }),
      endpoint,
      reverify: () => verify().catch(() => undefined),
    });
    const [proxyPort, commandPort] = await freePorts(2);
    const proxy: ClientProxy = await startClientProxy({ listen: { host: '127.0.0.1', port: proxyPort! }, session });
    await own(async () => {
      await proxy.close();
      session.close();
    });
    print(
      `client proxy on ${proxy.url}: verified the Coordinator (simulated roots, Manifest ${options.manifestHash}); requests are encrypted to the worker proxy ${endpoint}`,
    );
    printBare(`proxy: ${proxy.url}`);
    printBare(
      `proxy command: attestor proxy --listen 127.0.0.1:${commandPort} --coordinator ${options.coordinatorUrl} --endpoint ${endpoint} --secret-service ${serviceUrl} --manifest-hash ${options.manifestHash} --simulated-roots ${options.rootsFile}${options.allowAdminTrusted ? ' --allow-admin-trusted' : ''}`,
    );
    const model = await modelName(proxy.url).catch(() => 'attestor-echo');
    printBare(
      `curl example: curl -s ${proxy.url}/chat/completions -H 'content-type: application/json' -d '{"model":"${model}","messages":[{"role":"user","content":"Hello"}]}'`,
    );
    return { proxyUrl: proxy.url };
  }

  const ready = startClient();
  ready.catch(() => undefined);

  return {
    ready,
    onCertified(pod, dir) {
      const { uid, name } = pod.metadata ?? {};
      if (!uid || abort.signal.aborted) return;
      if (pod.metadata?.namespace === options.namespace && (name === SECRET_SERVICE_POD || name === SECRET_STORE_POD)) {
        roleDirs.get(name)?.(dir);
        return;
      }
      if (workerProxies.has(uid)) return;
      const started = startWorker(pod, dir).catch((err: unknown) => {
        print(`the worker proxy of pod ${pod.metadata?.namespace}/${name} did not start: ${(err as Error).message}`);
        return undefined;
      });
      workerProxies.set(uid, started);
    },
    async stop() {
      abort.abort();
      await Promise.allSettled([ready, ...workerProxies.values()]);
      for (const stop of stops.reverse()) await stop().catch(() => undefined);
    },
  };
}

/** etcd's /health over mTLS with a mesh client certificate (the secret service's). */
function etcdHealthy(endpoint: string, certDir: string): Promise<boolean> {
  return new Promise((resolve) => {
    const call = request(
      new URL('/health', endpoint),
      {
        cert: readFileSync(join(certDir, 'cert.pem')),
        key: readFileSync(join(certDir, 'key.pem')),
        ca: readFileSync(join(certDir, 'mesh-ca.pem')),
        allowPartialTrustChain: true,
        // The member's certificate names the pod, not 127.0.0.1; the chain to the mesh CA is what counts here.
        checkServerIdentity: () => undefined,
        timeout: 5_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => resolve(res.statusCode === 200 && text.includes('"health":"true"')));
        res.on('error', () => resolve(false));
      },
    );
    call.on('error', () => resolve(false));
    call.on('timeout', () => call.destroy());
    call.end();
  });
}

/** The first model the chain serves, for the curl example (GET /v1/models through the proxies). */
async function modelName(proxyUrl: string): Promise<string> {
  const res = await fetch(`${proxyUrl}/models`);
  const body = (await res.json()) as { data?: Array<{ id?: string }> };
  return body.data?.[0]?.id ?? 'attestor-echo';
}

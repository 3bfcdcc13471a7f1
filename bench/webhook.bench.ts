/**
 * Admission latency and throughput of the validating pod webhook (node bench/webhook.bench.ts).
 *
 * - allow-all: the floor. The same express + HTTPS stack (TLS 1.3, express.json with the same
 *   body limit, the same keep-alive settings) answering every AdmissionReview with allowed: true
 *   without looking at it. No webhook can beat it; the webhook is reported as ratios to it.
 * - webhook: startWebhookServer's /validate-pods judging an AI worker pod that meets the
 *   Manifest (runtime class, policy SHA-256 over the decoded annotation, digests, tolerations),
 *   with its metrics on.
 *
 * Clients are HTTPS keep-alive connections (1, 16 and 64 at a time) in a worker thread, each
 * posting the next AdmissionReview as soon as the last is answered, like API server replicas
 * under a burst of pod creations. The runs are interleaved and repeated; medians are reported.
 *
 * Env: WEBHOOK_BENCH_SECONDS (per measurement, default 4), WEBHOOK_BENCH_ROUNDS (default 3),
 * WEBHOOK_BENCH_POLICY_BYTES (size of the Kata policy document in the pod, default 32768).
 */

import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import express from 'express';
import { Registry } from 'prom-client';
import type { Manifest } from '../src/api/manifest.ts';
import { silentLogger } from '../src/observability/log.ts';
import { createCertificateAuthority, issueCertificate } from '../src/tls/certificates.ts';
import { WebhookMetrics } from '../src/webhook/metrics.ts';
import { DEFAULT_BODY_LIMIT_BYTES, startWebhookServer } from '../src/webhook/server.ts';

const SECONDS = Number(process.env.WEBHOOK_BENCH_SECONDS ?? 4);
const ROUNDS = Number(process.env.WEBHOOK_BENCH_ROUNDS ?? 3);
const POLICY_BYTES = Number(process.env.WEBHOOK_BENCH_POLICY_BYTES ?? 32 * 1024);
const CONCURRENCY = [1, 16, 64];
const WARMUP_MS = 1000;

interface LoadJob {
  port: number;
  path: string;
  ca: string;
  body: string;
  concurrency: number;
  seconds: number;
}

interface LoadResult {
  requests: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  refused: number;
}

if (!isMainThread) {
  const job = workerData as LoadJob;
  void load(job).then((r) => parentPort!.postMessage(r));
} else {
  await main();
}

/** The client side: `concurrency` loops over keep-alive connections; latencies after warm-up. */
async function load(job: LoadJob): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: job.concurrency, ca: job.ca });
  const latencies: number[] = [];
  let refused = 0;
  const start = performance.now();
  const measureFrom = start + WARMUP_MS;
  const end = measureFrom + job.seconds * 1000;
  const once = () =>
    new Promise<void>((resolve, reject) => {
      const t0 = performance.now();
      const req = request(
        {
          host: '127.0.0.1',
          port: job.port,
          path: job.path,
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(job.body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const t1 = performance.now();
            const reply = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { response?: { allowed?: boolean } };
            if (res.statusCode !== 200 || reply.response?.allowed !== true) refused++;
            if (t0 >= measureFrom && t1 <= end) latencies.push(t1 - t0);
            resolve();
          });
        },
      );
      req.on('error', reject);
      req.end(job.body);
    });
  await Promise.all(
    Array.from({ length: job.concurrency }, async () => {
      while (performance.now() < end) await once();
    }),
  );
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return { requests: latencies.length, seconds: job.seconds, p50Ms: pct(0.5), p99Ms: pct(0.99), refused };
}

async function main(): Promise<void> {
  const policy = policyDocument(POLICY_BYTES);
  const policyHash = createHash('sha256').update(policy).digest('hex');
  const manifest = {
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'Manifest',
    metadata: { name: 'bench', creationTimestamp: new Date('2026-01-01T00:00:00Z') },
    spec: {
      referenceValues: {
        snp: [{ measurements: ['ab'.repeat(48)], minimumTCB: { bootloader: 0, tee: 0, snp: 0, microcode: 0 } }],
        gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
      },
      policies: [{ name: 'llama', hash: policyHash }],
      runtimeClasses: ['kata-qemu-nvidia-gpu-snp'],
    },
    status: { hash: 'cd'.repeat(32) },
  } as unknown as Manifest;
  const body = JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'inference',
      operation: 'CREATE',
      userInfo: {
        username: 'system:serviceaccount:kube-system:replicaset-controller',
        groups: ['system:serviceaccounts', 'system:authenticated'],
      },
      object: workerPod(policy, policyHash),
      oldObject: null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  });

  const ca = await createCertificateAuthority('bench CA');
  const serving = await issueCertificate(ca, { commonName: 'webhook', usage: 'server', ipAddresses: ['127.0.0.1'] });
  const dir = mkdtempSync(join(tmpdir(), 'attestor-webhook-bench-'));
  writeFileSync(join(dir, 'tls.crt'), serving.certificatePem);
  writeFileSync(join(dir, 'tls.key'), serving.privateKeyPem);

  const webhook = await startWebhookServer({
    host: '127.0.0.1',
    port: 0,
    tls: { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') },
    // Like the allow-all floor: the bench measures admission, not mutual TLS.
    clientAuth: 'none',
    // The informer's interface over a fixed list: the bench measures admission, not the API server.
    manifests: { synced: true, list: () => [manifest] },
    nodeAttestations: { synced: true, get: () => undefined },
    pods: { readNamespacedPod: () => Promise.reject(new Error('not used by /validate-pods')) },
    log: silentLogger,
    metrics: new WebhookMetrics(new Registry()),
  });
  const floor = await startAllowAll(serving.certificatePem, serving.privateKeyPem);

  const targets = [
    { name: 'allow-all', port: floor.port, path: '/validate' },
    { name: 'webhook', port: webhook.port, path: '/validate-pods' },
  ];
  const results = new Map<string, LoadResult[]>();
  console.log(
    `webhook bench: ${SECONDS} s x ${ROUNDS} rounds, concurrency ${CONCURRENCY.join(', ')}, AdmissionReview ${(Buffer.byteLength(body) / 1024).toFixed(1)} KiB (policy ${POLICY_BYTES} bytes)`,
  );
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}`);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const concurrency of CONCURRENCY) {
      for (const target of targets) {
        const r = await runLoad({
          port: target.port,
          path: target.path,
          ca: ca.certificatePem,
          body,
          concurrency,
          seconds: SECONDS,
        });
        if (r.refused > 0) throw new Error(`${target.name}: ${r.refused} requests were not allowed`);
        const key = `${target.name}@${concurrency}`;
        results.set(key, [...(results.get(key) ?? []), r]);
        console.log(
          `round ${round} ${key}: ${(r.requests / r.seconds).toFixed(0)} req/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms`,
        );
      }
    }
  }
  await webhook.close();
  await floor.close();
  rmSync(dir, { recursive: true, force: true });

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log('\n| concurrency | server | req/s | p50 ms | p99 ms | req/s ratio | p50 ratio | p99 ratio |');
  console.log('|---:|---|---:|---:|---:|---:|---:|---:|');
  for (const concurrency of CONCURRENCY) {
    const summary = (name: string) => {
      const rs = results.get(`${name}@${concurrency}`)!;
      return {
        rps: median(rs.map((r) => r.requests / r.seconds)),
        p50: median(rs.map((r) => r.p50Ms)),
        p99: median(rs.map((r) => r.p99Ms)),
      };
    };
    const base = summary('allow-all');
    for (const name of ['allow-all', 'webhook']) {
      const s = summary(name);
      console.log(
        `| ${concurrency} | ${name} | ${s.rps.toFixed(0)} | ${s.p50.toFixed(2)} | ${s.p99.toFixed(2)} | ${(s.rps / base.rps).toFixed(2)} | ${(s.p50 / base.p50).toFixed(2)} | ${(s.p99 / base.p99).toFixed(2)} |`,
      );
    }
  }
}

function runLoad(job: LoadJob): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: job });
    worker.once('message', (r: LoadResult) => {
      resolve(r);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

/** The floor: the same stack, answering allowed without looking at the request. */
async function startAllowAll(cert: string, key: string): Promise<{ port: number; close(): Promise<void> }> {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.post('/validate', express.json({ limit: DEFAULT_BODY_LIMIT_BYTES }), (req, res) => {
    res.json({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: req.body.request.uid, allowed: true },
    });
  });
  const server = createServer({ cert, key, minVersion: 'TLSv1.2' }, app);
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A Kata agent policy of about `bytes` bytes (genpolicy output is rego of tens of KiB). */
function policyDocument(bytes: number): string {
  const lines = [
    'package agent_policy',
    '',
    'default CreateContainerRequest := false',
    'default ExecProcessRequest := false',
    '',
  ];
  let i = 0;
  while (lines.join('\n').length < bytes) {
    lines.push(
      `policy_data_${i} := {"container": ${i}, "allowed_command": "/usr/bin/vllm serve --port 8000 --model meta-llama/Llama-3.1-8B-Instruct"}`,
    );
    i++;
  }
  return lines.join('\n').slice(0, bytes);
}

function workerPod(policy: string, policyHash: string): unknown {
  const labels = {
    'app.kubernetes.io/name': 'ai-worker',
    'app.kubernetes.io/instance': 'llama',
    'app.kubernetes.io/managed-by': 'attestor',
    'app.kubernetes.io/component': 'inference-server',
    'app.kubernetes.io/part-of': 'attestor',
    'pod-template-hash': '5d9f8c7b6',
  };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'llama-5d9f8c7b6-',
      namespace: 'inference',
      labels,
      annotations: {
        'io.katacontainers.config.agent.policy': Buffer.from(policy).toString('base64'),
        'attestor.dev/policy-hash': policyHash,
      },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: 'llama-5d9f8c7b6',
          uid: 'b1f0c0de-0000-4000-8000-000000000001',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      runtimeClassName: 'kata-qemu-nvidia-gpu-snp',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      nodeSelector: { 'attestor.dev/gpu-attested': 'true' },
      containers: [
        {
          name: 'server',
          image: `registry.example/vllm@sha256:${'c3'.repeat(32)}`,
          args: ['--model', 'meta-llama/Llama-3.1-8B-Instruct', '--port', '8000'],
          ports: [{ name: 'http', containerPort: 8000, protocol: 'TCP' }],
          resources: {
            requests: { 'nvidia.com/gpu': '1', cpu: '8', memory: '64Gi' },
            limits: { 'nvidia.com/gpu': '1', memory: '64Gi' },
          },
          readinessProbe: { httpGet: { path: '/health', port: 'http' }, periodSeconds: 10 },
          securityContext: { allowPrivilegeEscalation: false },
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
          imagePullPolicy: 'IfNotPresent',
        },
      ],
      tolerations: [
        { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
        { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      ],
      restartPolicy: 'Always',
      dnsPolicy: 'ClusterFirst',
      schedulerName: 'default-scheduler',
      terminationGracePeriodSeconds: 30,
    },
  };
}

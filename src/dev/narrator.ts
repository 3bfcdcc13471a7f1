/**
 * Tells what happens in the local cluster in plain lines: Events, and status changes of
 * Manifests, AIWorkers, NodeAttestations and nodes. For `attestor dev`.
 */
import * as k8s from '@kubernetes/client-node';
import type { Informers } from '../controllers/informers.ts';
import { Informer } from '../controllers/runtime/informer.ts';
import type { Logger } from '../observability/log.ts';

export function narrate(
  kubeConfig: k8s.KubeConfig,
  informers: Informers,
  print: (line: string) => void,
  log: Logger,
): Informer<k8s.CoreV1Event> {
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  const started = Date.now();
  const events = new Informer<k8s.CoreV1Event>({
    kubeConfig,
    log,
    resource: 'events',
    path: '/api/v1/events',
    list: () => core.listEventForAllNamespaces(),
  });
  const seen = new Map<string, number>();
  const onEvent = (e: k8s.CoreV1Event) => {
    const last = new Date(e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp ?? 0).getTime();
    if (last < started - 1000) return;
    const count = e.count ?? 1;
    const key = e.metadata?.uid ?? '';
    if ((seen.get(key) ?? 0) >= count) return;
    seen.set(key, count);
    const o = e.involvedObject;
    const where = `${o.kind}/${o.namespace ? `${o.namespace}/` : ''}${o.name}`;
    const source = e.reportingComponent || e.source?.component || '';
    if (
      ![
        'attestor-operator',
        'attestor-coordinator',
        'attestor-agent',
        'default-scheduler',
        'deployment-controller',
        'replicaset-controller',
      ].includes(source)
    )
      return;
    print(
      `${e.type === 'Warning' ? 'WARN ' : 'event'} ${where}: ${e.reason}: ${e.message}${count > 1 ? ` (x${count})` : ''}`,
    );
  };
  events.onAdd(onEvent).onUpdate(onEvent);

  const conditionSummary = (conditions: Array<{ type: string; status: string; reason: string }> | undefined) =>
    (conditions ?? []).map((c) => `${c.type}=${c.status}(${c.reason})`).join(' ');
  const last = new Map<string, string>();
  const report = (key: string, line: string) => {
    if (last.get(key) === line) return;
    last.set(key, line);
    print(line);
  };
  informers.manifests.onChange((m) => {
    if (!m.status) return;
    report(
      `manifest/${m.metadata.name}`,
      `Manifest ${m.metadata.name}: ${conditionSummary(m.status.conditions)} hash=${m.status.hash ?? '-'}`,
    );
  });
  informers.aiWorkers.onChange((w) => {
    if (!w.status) return;
    const s = w.status;
    report(
      `aiworker/${w.metadata.namespace}/${w.metadata.name}`,
      `AIWorker ${w.metadata.namespace}/${w.metadata.name}: ready ${s.readyReplicas ?? 0}/${w.spec.replicas ?? 1}, attested ${s.attestedReplicas ?? 0}; ${conditionSummary(s.conditions)}`,
    );
  });
  informers.nodeAttestations.onChange((n) => {
    if (!n.status) return;
    const gpus = n.status.gpus ?? [];
    report(
      `na/${n.metadata.name}`,
      `NodeAttestation ${n.metadata.name}: ${conditionSummary(n.status.conditions)}; GPUs verified ${gpus.filter((g) => g.verified).length}/${gpus.length}, activated ${gpus.filter((g) => g.activated).length}`,
    );
  });
  informers.nodes.onChange((node) => {
    const labels = node.metadata?.labels ?? {};
    const taints = (node.spec?.taints ?? []).map((t) => `${t.key}:${t.effect}`).join(',') || 'none';
    report(
      `node/${node.metadata?.name}`,
      `Node ${node.metadata?.name}: gpu-attested=${labels['attestor.dev/gpu-attested'] ?? 'false'} taints=${taints}`,
    );
  });
  events.start();
  return events;
}

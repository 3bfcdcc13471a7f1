// The webhook configurations: fail closed, v1 only, both pod entries, GPU pods and bindings (no node
// webhook: a ValidatingAdmissionPolicy carries that rule), for a URL or a Service, with the caBundle
// and the selectors that scope them.
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import type { AIWorker } from '../../../src/api/aiworker.ts';
import { selectorLabels } from '../../../src/api/aiworker-labels.ts';
import { desiredDeployment, desiredService } from '../../../src/controllers/aiworker/workload.ts';
import { allOf, type WebhookConfigurationOptions, webhookConfigurations } from '../../../src/webhook/configuration.ts';
import { gpuRequestCel } from '../../../src/webhook/gpu-requests.ts';

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const options = (more: Partial<WebhookConfigurationOptions> = {}): WebhookConfigurationOptions => ({
  endpoint: { url: 'https://127.0.0.1:9443/' },
  caBundlePem: CA,
  ...more,
});
const notKubeSystem: k8s.V1LabelSelectorRequirement[] = [
  { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system'] },
];

describe('webhook configurations', function () {
  it('fails closed, speaks v1, has no side effects and waits 10 s by default', function () {
    const { validating, mutating } = webhookConfigurations(options());
    const all = [...validating.webhooks!, ...mutating.webhooks!];
    assert.equal(all.length, 6);
    for (const w of all) {
      assert.equal(w.failurePolicy, 'Fail', w.name);
      assert.equal(w.sideEffects, 'None');
      assert.deepEqual(w.admissionReviewVersions, ['v1']);
      assert.equal(w.matchPolicy, 'Equivalent');
      assert.equal(w.timeoutSeconds, 10);
      assert.equal(Buffer.from(w.clientConfig.caBundle!, 'base64').toString('utf8'), CA);
    }
    assert.equal(validating.metadata!.name, 'attestor');
    assert.equal(webhookConfigurations(options({ timeoutSeconds: 3 })).validating.webhooks![0]!.timeoutSeconds, 3);
    assert.throws(() => webhookConfigurations(options({ timeoutSeconds: 31 })), /timeoutSeconds/);
  });

  it('routes each webhook to its path on the URL', function () {
    const { validating, mutating } = webhookConfigurations(options());
    assert.deepEqual(
      validating.webhooks!.map((w) => [w.name, w.clientConfig.url]),
      [
        ['ai-worker-pods.validate.attestor.dev', 'https://127.0.0.1:9443/validate-pods'],
        ['enforced-pods.validate.attestor.dev', 'https://127.0.0.1:9443/validate-pods'],
        ['gpu-pods.validate.attestor.dev', 'https://127.0.0.1:9443/validate-gpu-pods'],
        ['ai-worker-bindings.validate.attestor.dev', 'https://127.0.0.1:9443/validate-bindings'],
        ['enforced-bindings.validate.attestor.dev', 'https://127.0.0.1:9443/validate-bindings'],
      ],
    );
    assert.deepEqual(
      mutating.webhooks!.map((w) => [w.name, w.clientConfig.url]),
      [['gpu-pods.mutate.attestor.dev', 'https://127.0.0.1:9443/mutate-pods']],
    );
  });

  it('routes to a Service for the Helm chart', function () {
    const { validating } = webhookConfigurations(
      options({ endpoint: { service: { namespace: 'attestor-system', name: 'attestor-webhook', port: 443 } } }),
    );
    assert.deepEqual(validating.webhooks![3]!.clientConfig.service, {
      namespace: 'attestor-system',
      name: 'attestor-webhook',
      path: '/validate-bindings',
      port: 443,
    });
    assert.equal(validating.webhooks![3]!.clientConfig.url, undefined);
  });

  it('judges every pod any AIWorker selector can match, in any namespace (item 11)', function () {
    const [aiWorkers] = webhookConfigurations(options()).validating.webhooks!;
    const required = aiWorkers!.objectSelector!.matchLabels!;
    assert.deepEqual(required, { 'app.kubernetes.io/name': 'ai-worker' });
    assert.equal(aiWorkers!.objectSelector!.matchExpressions, undefined);
    assert.deepEqual(aiWorkers!.namespaceSelector, {});
    // Every selector an AIWorker's objects carry requires the label the webhook selects on: a pod
    // that any of them matches is a pod the webhook judges.
    for (const name of ['llama', 'a', 'x'.repeat(63)]) {
      const worker = {
        apiVersion: 'attestor.dev/v1alpha1',
        kind: 'AIWorker',
        metadata: { name, namespace: 'ns', uid: 'u' },
        spec: { image: `i@sha256:${'0'.repeat(64)}`, model: 'm', runtimeClassName: 'kata', policy: { inline: 'p' } },
      } as AIWorker;
      const selectors: Array<Record<string, string>> = [
        selectorLabels(name),
        desiredService(worker).spec!.selector!,
        desiredDeployment(worker, { document: 'p', hash: 'h' }, 1).spec!.selector.matchLabels!,
      ];
      for (const selector of selectors) {
        for (const [key, value] of Object.entries(required))
          assert.equal(selector[key], value, `${key} in ${JSON.stringify(selector)}`);
      }
    }
  });

  it('matches enforced namespaces by their label, ephemeral containers and pods/status too', function () {
    const [aiWorkers, enforced] = webhookConfigurations(options()).validating.webhooks!;
    assert.deepEqual(enforced!.namespaceSelector, { matchLabels: { 'attestor.dev/enforce': 'true' } });
    assert.deepEqual(enforced!.objectSelector, {});
    for (const w of [aiWorkers!, enforced!]) {
      assert.deepEqual(w.rules, [
        {
          apiGroups: [''],
          apiVersions: ['v1'],
          operations: ['CREATE', 'UPDATE'],
          resources: ['pods'],
          scope: 'Namespaced',
        },
        {
          apiGroups: [''],
          apiVersions: ['v1'],
          operations: ['UPDATE'],
          resources: ['pods/ephemeralcontainers'],
          scope: 'Namespaced',
        },
        {
          apiGroups: [''],
          apiVersions: ['v1'],
          operations: ['UPDATE'],
          resources: ['pods/status'],
          scope: 'Namespaced',
        },
      ]);
    }
  });

  it('matches pods/status updates only where they change the Kata policy annotations or the selector labels (item 17)', function () {
    const [aiWorkers, enforced] = webhookConfigurations(options()).validating.webhooks!;
    for (const w of [aiWorkers!, enforced!]) {
      assert.deepEqual(
        w.matchConditions!.map((c) => c.name),
        ['status-changes-policy-or-selector-labels'],
      );
      const cel = w.matchConditions![0]!.expression;
      assert.match(cel, /^!has\(request\.subResource\) \|\| request\.subResource != "status"\n/);
      for (const key of [
        'io.katacontainers.config.agent.policy',
        'attestor.dev/policy-hash',
        'app.kubernetes.io/name',
        'app.kubernetes.io/instance',
      ])
        assert.ok(cel.includes(JSON.stringify(key)), key);
    }
  });

  it('sends GPU pods, and only GPU pods, to the nodeSelector mutation and the nodeName check (items 12, 15, 16)', function () {
    const { validating, mutating } = webhookConfigurations(options({ gpuResourcePrefixes: ['nvidia.com/gpu'] }));
    const gpuValidate = validating.webhooks![2]!;
    const [gpuMutate] = mutating.webhooks!;
    assert.deepEqual(gpuValidate.rules, [
      {
        apiGroups: [''],
        apiVersions: ['v1'],
        operations: ['CREATE', 'UPDATE'],
        resources: ['pods'],
        scope: 'Namespaced',
      },
    ]);
    assert.deepEqual(
      gpuValidate.matchConditions!.map((c) => c.name),
      ['requests-gpus', 'sets-node-name'],
    );
    assert.equal(gpuValidate.matchConditions![0]!.expression, gpuRequestCel(['nvidia.com/gpu']));
    assert.match(
      gpuValidate.matchConditions![1]!.expression,
      /request\.operation == "CREATE" \|\| !has\(oldObject\.spec\.nodeName\) \|\| oldObject\.spec\.nodeName != object\.spec\.nodeName/,
    );
    assert.deepEqual(gpuMutate!.rules, [
      { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' },
    ]);
    assert.deepEqual(gpuMutate!.matchConditions, [
      { name: 'requests-gpus', expression: gpuRequestCel(['nvidia.com/gpu']) },
    ]);
    assert.equal(gpuMutate!.reinvocationPolicy, 'IfNeeded');
    for (const w of [gpuValidate, gpuMutate!]) {
      assert.deepEqual(w.objectSelector, {});
      assert.deepEqual(w.namespaceSelector, { matchExpressions: notKubeSystem });
    }
  });

  it('judges bindings only in namespaces that hold AIWorkers or are enforced (item 16)', function () {
    const webhooks = webhookConfigurations(options()).validating.webhooks!;
    const bindings = webhooks.filter((w) => w.rules!.some((r) => r.resources!.includes('pods/binding')));
    assert.deepEqual(
      bindings.map((w) => w.name),
      ['ai-worker-bindings.validate.attestor.dev', 'enforced-bindings.validate.attestor.dev'],
    );
    assert.deepEqual(
      bindings.map((w) => w.namespaceSelector),
      [
        { matchLabels: { 'attestor.dev/ai-workers': 'true' }, matchExpressions: notKubeSystem },
        { matchLabels: { 'attestor.dev/enforce': 'true' }, matchExpressions: notKubeSystem },
      ],
    );
    for (const w of bindings) {
      assert.deepEqual(w.rules, [
        {
          apiGroups: [''],
          apiVersions: ['v1'],
          operations: ['CREATE'],
          resources: ['pods/binding', 'bindings'],
          scope: 'Namespaced',
        },
      ]);
      assert.deepEqual(w.objectSelector, {});
    }
  });

  it('has no node webhook: node registration never waits for the operator (issue 7 item 16)', function () {
    const { validating, mutating } = webhookConfigurations(options());
    for (const w of [...validating.webhooks!, ...mutating.webhooks!]) {
      for (const rule of w.rules ?? [])
        assert.ok(
          rule.resources!.every((r) => !r.startsWith('nodes')),
          `${w.name} matches ${rule.resources}`,
        );
    }
  });

  it('excludes other namespaces from the GPU pod and binding webhooks and narrows everything to a scope', function () {
    const scope = { namespaceSelector: { matchLabels: { 'test.attestor.dev/run': 'x' } } };
    const { validating, mutating } = webhookConfigurations(
      options({ excludedNamespaces: ['kube-system', 'attestor-system'], scope }),
    );
    const [aiWorkers, enforced, gpuPods, aiWorkerBindings, enforcedBindings] = validating.webhooks!;
    const excluded = [
      { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'attestor-system'] },
    ];
    assert.deepEqual(aiWorkers!.namespaceSelector, { matchLabels: { 'test.attestor.dev/run': 'x' } });
    assert.deepEqual(enforced!.namespaceSelector, {
      matchLabels: { 'attestor.dev/enforce': 'true', 'test.attestor.dev/run': 'x' },
    });
    assert.deepEqual(gpuPods!.namespaceSelector, {
      matchLabels: { 'test.attestor.dev/run': 'x' },
      matchExpressions: excluded,
    });
    assert.deepEqual(aiWorkerBindings!.namespaceSelector, {
      matchLabels: { 'attestor.dev/ai-workers': 'true', 'test.attestor.dev/run': 'x' },
      matchExpressions: excluded,
    });
    assert.deepEqual(enforcedBindings!.namespaceSelector, {
      matchLabels: { 'attestor.dev/enforce': 'true', 'test.attestor.dev/run': 'x' },
      matchExpressions: excluded,
    });
    assert.deepEqual(mutating.webhooks![0]!.namespaceSelector, gpuPods!.namespaceSelector);
  });

  it('keeps conflicting label values as a selector that matches nothing', function () {
    assert.deepEqual(allOf({ matchLabels: { a: '1' } }, { matchLabels: { a: '2' } }), {
      matchLabels: { a: '1' },
      matchExpressions: [{ key: 'a', operator: 'In', values: ['2'] }],
    });
  });
});

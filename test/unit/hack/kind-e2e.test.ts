// hack/kind-e2e.sh cannot run here (no Docker engine), so what can be checked is checked: shellcheck
// (Debian's package; missing is a failure, not a skip) finds nothing, the script is strict, deletes
// its cluster on exit, and every chart value it sets exists in the chart (values.schema.json where
// the chart has one, values.yaml otherwise).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { projectRoot } from '../../../src/dev/control-plane.ts';

const SCRIPT = join(projectRoot, 'hack/kind-e2e.sh');
const CHART = join(projectRoot, 'charts/attestor');

/** The keys of every `--set key=value` (and --set-string, --set-file, --set-json) in the script. */
function setKeys(script: string): string[] {
  return [...script.matchAll(/--set(?:-string|-file|-json)?[ =]"?([\w.-]+)=/g)].map((m) => m[1]!);
}

interface SchemaNode {
  properties?: Record<string, SchemaNode>;
}

/** Whether a dotted chart value exists: in values.schema.json's properties, or else in values.yaml. */
function chartHasValue(key: string): boolean {
  const path = key.split('.');
  const schemaFile = join(CHART, 'values.schema.json');
  if (existsSync(schemaFile)) {
    let node: SchemaNode | undefined = JSON.parse(readFileSync(schemaFile, 'utf8')) as SchemaNode;
    for (const part of path) node = node?.properties?.[part];
    return node !== undefined;
  }
  let value: unknown = yaml.load(readFileSync(join(CHART, 'values.yaml'), 'utf8'));
  for (const part of path) {
    if (typeof value !== 'object' || value === null || !(part in value)) return false;
    value = (value as Record<string, unknown>)[part];
  }
  return true;
}

describe('hack/kind-e2e.sh', () => {
  const script = readFileSync(SCRIPT, 'utf8');

  it('passes shellcheck (from Debian: apt-get install shellcheck)', () => {
    const r = spawnSync('shellcheck', ['--shell=bash', '--severity=style', SCRIPT], { encoding: 'utf8' });
    assert.ifError(
      r.error &&
        new Error(`shellcheck is missing (${r.error.message}): apt-get install -y shellcheck, as .ci/run does`),
    );
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  it('is strict and deletes its kind cluster on every exit', () => {
    assert.match(script, /^#!\/usr\/bin\/env bash\n/);
    assert.match(script, /^set -euo pipefail$/m);
    assert.match(script, /^trap cleanup EXIT$/m);
    assert.match(script, /kind delete cluster --name "\$cluster"/);
  });

  it('sets only chart values that exist, development mode among them', () => {
    const keys = setKeys(script);
    assert.ok(keys.includes('development.enabled'), `development mode is set: ${keys.join(', ')}`);
    const unknown = keys.filter((k) => !chartHasValue(k));
    assert.deepEqual(unknown, [], `values the chart does not have: ${unknown.join(', ')}`);
  });

  it('the value check catches a misspelt value', () => {
    assert.deepEqual(setKeys('helm install x --set operator.replicaz=2 \\\n  --set-string image.tag="1"'), [
      'operator.replicaz',
      'image.tag',
    ]);
    assert.equal(chartHasValue('operator.replicaz'), false);
    assert.equal(chartHasValue('operator.replicas'), true);
  });
});

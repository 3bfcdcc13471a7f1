#!/usr/bin/env bash
# Try attestor on a laptop: a kind cluster with the chart in its development mode (simulated
# CVMs and GPUs, signed by roots the operator generates in memory; never in production).
# Needs docker, kind, kubectl (1.31 or later) and helm. Creates the cluster, builds and loads the
# image, installs the chart, gives the node fake nvidia.com/gpu capacity, applies the samples,
# waits until the AIWorker is Ready and the node attested, prints what it saw, and deletes the
# cluster on exit (KEEP_CLUSTER=1 keeps it). docs/install.md, "Try it with kind".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cluster="${KIND_CLUSTER_NAME:-attestor-e2e}"
namespace=attestor-system
timeout="${TIMEOUT:-600s}"
gpus=2 # the sample AIWorker: 2 replicas of 1 GPU
work="$(mktemp -d)"

for tool in docker kind kubectl helm openssl; do
  command -v "$tool" >/dev/null || { echo "kind-e2e: $tool is required" >&2; exit 2; }
done

cleanup() {
  rm -rf "$work"
  if [ "${KEEP_CLUSTER:-0}" = 1 ]; then echo "kind-e2e: keeping cluster $cluster"; else kind delete cluster --name "$cluster"; fi
}
trap cleanup EXIT

# 1. The cluster (one node: it runs the operator and plays the GPU node).
kind create cluster --name "$cluster" --wait 120s
node="$cluster-control-plane"
kubectl config use-context "kind-$cluster"

# 2. The image, and the embedded model server as an image of its own (its entrypoint takes vLLM's
# --model/--port, as an AIWorker's server container is started). The webhook admits images by
# digest only: take the digests containerd gave the loaded images.
docker build -t attestor:e2e .
docker build -t attestor-model-server:e2e - <<'EOF'
FROM attestor:e2e
ENTRYPOINT ["node", "/app/dist/cli/main.js", "model-server"]
EOF
kind load docker-image --name "$cluster" attestor:e2e attestor-model-server:e2e
digest() {
  docker exec "$node" crictl inspecti -o go-template --template '{{index .status.repoDigests 0}}' "$1" |
    grep -o 'sha256:[0-9a-f]\{64\}'
}
image_digest="$(digest docker.io/library/attestor:e2e)"
model_digest="$(digest docker.io/library/attestor-model-server:e2e)"

# 3. The serving certificate of the Coordinator and the webhook (a throwaway CA for this cluster).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=attestor-e2e-ca \
  -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=attestor -keyout "$work/tls.key" \
  -out "$work/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:attestor-coordinator.%s.svc,DNS:attestor-webhook.%s.svc\n' "$namespace" "$namespace" >"$work/san"
openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
  -extfile "$work/san" -out "$work/tls.crt" 2>/dev/null
kubectl create namespace "$namespace"
kubectl -n "$namespace" create secret tls attestor-serving-cert --cert "$work/tls.crt" --key "$work/tls.key"

# 4. The chart in development mode. kind's API server presents no webhook client certificate.
helm install attestor charts/attestor --namespace "$namespace" --wait --timeout "$timeout" \
  --set development.enabled=true \
  --set development.simulatedAgent.gpus="$gpus" \
  --set image.repository=docker.io/library/attestor \
  --set image.digest="$image_digest" \
  --set image.pullPolicy=Never \
  --set operator.replicas=1 \
  --set operator.resourceSlices=false \
  --set tls.caBundle="$(base64 <"$work/ca.crt" | tr -d '\n')" \
  --set webhook.clientAuth.allowAnyClient=true

# 5. Fake GPUs: the agent's node label and nvidia.com/gpu capacity on the node's status.
kubectl label node "$node" nvidia.com/gpu.present=true
kubectl patch node "$node" --subresource=status --type=json \
  -p "[{\"op\":\"add\",\"path\":\"/status/capacity/nvidia.com~1gpu\",\"value\":\"$gpus\"}]"

# 6. The samples: the development Manifest, with a node entry for the simulated agent's node CVM
# (the confidential-node model) so that the node is attested too; the AIWorker served by the
# embedded model server, with requests a laptop has.
kubectl apply -f samples/manifest.yaml
kubectl patch manifest dev --type=json -p "[{\"op\":\"add\",\"path\":\"/spec/referenceValues/snp/-\",\"value\":{\"name\":\"simulated-node\",\"role\":\"node\",\"measurements\":[\"$(printf 'ab%.0s' $(seq 48))\"],\"minimumTCB\":{\"bootloader\":3,\"tee\":0,\"snp\":8,\"microcode\":115},\"products\":[\"Genoa\"]}}]"
sed -e "s#image: .*@sha256:[0-9a-f]*#image: docker.io/library/attestor-model-server@$model_digest#" \
  -e 's#cpu: "4"#cpu: 100m#' -e 's#memory: 32Gi#memory: 256Mi#' samples/aiworker.yaml | kubectl apply -f -

# 7. Wait for what matters: the node attested, the AIWorker Ready with attested replicas.
kubectl wait --for=create "nodeattestation/$node" --timeout "$timeout"
kubectl wait --for=condition=Attested "nodeattestation/$node" --timeout "$timeout"
kubectl -n default wait --for=condition=Ready aiworker/llama --timeout "$timeout"

# 8. What it saw.
kubectl get manifests,nodeattestations
kubectl -n default get aiworkers,pods -o wide
kubectl get nodeattestation "$node" -o jsonpath='{.status.cvm}{"\n"}'
kubectl -n "$namespace" logs deployment/attestor-operator --tail 20
echo "kind-e2e: the AIWorker is Ready and node $node is attested (simulated evidence)"

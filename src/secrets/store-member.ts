/**
 * The flags of one member of the secret store's etcd cluster, as the chart's StatefulSet runs it
 * and the loopback tests start it (so that the flags the tests prove are the chart's: a chart test
 * compares them). Clients and peers alike use mutual TLS with the member's workload certificate
 * (`attestor init`'s cert.pem and key.pem, role secret-store) and trust only the mesh CA
 * (mesh-ca.pem): a member or client without a mesh certificate, such as an etcd the admin
 * supplies, can neither join nor dial. Pure.
 */

/** One member as the others reach it. */
export interface StoreMemberUrls {
  name: string;
  peerUrl: string;
}

export interface StoreMemberOptions {
  name: string;
  dataDir: string;
  listenClientUrl: string;
  advertiseClientUrl: string;
  listenPeerUrl: string;
  advertisePeerUrl: string;
  /** Every member of the cluster being bootstrapped (or joined), this one included. */
  initialCluster: readonly StoreMemberUrls[];
  initialClusterState: 'new' | 'existing';
  /** Keeps members of different stores from joining each other by mistake (not a security boundary). */
  clusterToken: string;
  /** The workload certificate and key the member serves and dials with (role secret-store). */
  certFile: string;
  keyFile: string;
  /** The mesh CA: the only issuer of client and peer certificates the member accepts. */
  meshCaFile: string;
  /** Plain HTTP /health, /livez, /readyz and /metrics for the kubelet's probes; none if absent. */
  listenMetricsUrl?: string;
}

export function secretStoreMemberArgs(o: StoreMemberOptions): string[] {
  return [
    `--name=${o.name}`,
    `--data-dir=${o.dataDir}`,
    `--listen-client-urls=${o.listenClientUrl}`,
    `--advertise-client-urls=${o.advertiseClientUrl}`,
    `--listen-peer-urls=${o.listenPeerUrl}`,
    `--initial-advertise-peer-urls=${o.advertisePeerUrl}`,
    `--initial-cluster=${o.initialCluster.map((m) => `${m.name}=${m.peerUrl}`).join(',')}`,
    `--initial-cluster-state=${o.initialClusterState}`,
    `--initial-cluster-token=${o.clusterToken}`,
    `--cert-file=${o.certFile}`,
    `--key-file=${o.keyFile}`,
    '--client-cert-auth=true',
    `--trusted-ca-file=${o.meshCaFile}`,
    `--peer-cert-file=${o.certFile}`,
    `--peer-key-file=${o.keyFile}`,
    '--peer-client-cert-auth=true',
    `--peer-trusted-ca-file=${o.meshCaFile}`,
    ...(o.listenMetricsUrl ? [`--listen-metrics-urls=${o.listenMetricsUrl}`] : []),
  ];
}

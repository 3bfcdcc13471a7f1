# Kata agent policy for the secret store's etcd pod (development only: allows every container and
# checks nothing). `attestor dev` creates the secret-store pod with this policy; a real policy
# comes from genpolicy over the exact pod spec (withWorkloadInit over the chart's).
package agent_policy

default AllowRequestsFailingPolicy := false
default CreateContainerRequest := true
default ExecProcessRequest := false
default ReadStreamRequest := true

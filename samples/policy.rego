# Kata agent policy for the sample AI worker (development only: allows every container, the
# `attestor init` init container at its pinned digest included, and checks nothing; a real policy
# comes from genpolicy over the exact pod spec: `attestor aiworker render -f samples/aiworker.yaml
# --init-image <the operator's image@sha256:...>`).
package agent_policy

default AllowRequestsFailingPolicy := false
default CreateContainerRequest := true
default ExecProcessRequest := false
default ReadStreamRequest := true

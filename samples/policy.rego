# Kata agent policy for the sample AI worker (development only: allows everything the
# sample needs and nothing is checked here; a real policy comes from genpolicy).
package agent_policy

default AllowRequestsFailingPolicy := false
default CreateContainerRequest := true
default ExecProcessRequest := false
default ReadStreamRequest := true

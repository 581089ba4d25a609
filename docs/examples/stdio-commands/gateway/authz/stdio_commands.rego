package gateway.authz

# METADATA
# title: The gateway runs only listed commands
# description: |
#   A ban added to package gateway.authz (docs/stdio-hosting.md): copy
#   docs/examples/stdio-commands/gateway/ over policies/gateway/. The gateway hosts a stdio
#   server (`mcp_server.run`) only when its command is one of
#   data.gateway.stdio_commands.allowed (absolute paths: the sandbox's PATH would otherwise
#   choose); any other server of the view shows as not permitted through /mcp. This block is
#   on the rule, not the package: decision.rego holds the package's one.
deny contains {
	"code": "command_not_allowed",
	"message": concat("", [
		"the gateway runs only ", concat(", ", sort(data.gateway.stdio_commands.allowed)),
		"; not ", _shown(input.resource.command),
	]),
} if {
	input.action == "mcp_server.run"
	input.resource.transport == "stdio"
	not input.resource.command in data.gateway.stdio_commands.allowed
}

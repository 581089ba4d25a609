# METADATA
# title: Decision-log filtering and masking (OPA's system.log)
# description: |
#   OPA consults data.system.log.drop (here) for every decision-log event it would write,
#   and data.system.log.mask (mask.rego) for what the event must not show; the gateway's
#   own log is masked by the same rule. The gateway's OPA engine reads the whole data tree
#   (GET /v1/data, path "") to fingerprint the policy revision OPA serves; that read is not
#   a decision, so it is not logged. Nor are the gateway's own evaluations of the mask, which
#   it makes to mask its log: they are no decision either. The embedded engine does not
#   consult `drop`. The package's one package-scope block; mask.rego's is on its first rule.
package system.log

# METADATA
# title: Events OPA does not log
# entrypoint: true
drop if input.path == ""

drop if input.path == "system/log/mask"

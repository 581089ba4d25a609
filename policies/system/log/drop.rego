# METADATA
# title: Decision-log filtering (OPA's system.log)
# description: |
#   OPA consults data.system.log.drop for every decision-log event it would write. The
#   gateway's OPA engine reads the whole data tree (GET /v1/data, path "") to fingerprint
#   the policy revision OPA serves; that read is not a decision, so it is not logged.
#   Nor are the gateway's own evaluations of the mask (system/log/mask), which it makes
#   to mask its log: they are no decision either. The embedded engine does not consult
#   this package.
package system.log

# METADATA
# title: Events OPA does not log
# entrypoint: true
drop if input.path == ""

drop if input.path == "system/log/mask"

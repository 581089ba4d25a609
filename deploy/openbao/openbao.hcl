# OpenBao for compose.yaml: integrated storage (Raft; OpenBao 2.x has no `file` backend) on
# the openbao-data volume, one node; plain HTTP on the compose network only (the port is not
# published). docs/deployment.md, "OpenBao".
storage "raft" {
  path    = "/openbao/file"
  node_id = "openbao-1"
}
listener "tcp" {
  address     = "0.0.0.0:8200"
  tls_disable = true
}
api_addr     = "http://openbao:8200"
cluster_addr = "http://openbao:8201"
ui           = false

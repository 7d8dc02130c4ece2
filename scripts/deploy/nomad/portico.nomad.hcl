# Portico on every edge node: a Nomad system job. Each allocation talks to
# the Consul client agent of its own node, registers itself there (service
# "portico", checked on /healthz), and is drained by Portico itself on
# SIGTERM. Put a layer-4 balancer or DNS in front of the nodes' port 8080.
job "portico" {
  datacenters = ["dc1"]
  type        = "system"

  constraint {
    attribute = "${meta.edge}"
    value     = "true"
  }

  update {
    max_parallel     = 1
    min_healthy_time = "10s"
    healthy_deadline = "2m"
  }

  group "portico" {
    network {
      mode = "host"
      port "http" {
        static = 8080
      }
      port "admin" {
        static = 9090
      }
    }

    task "portico" {
      driver = "docker"

      config {
        image        = "portico:local"
        command      = "portico"
        network_mode = "host"
      }

      env {
        CONSUL_HTTP_ADDR     = "http://${attr.unique.network.ip-address}:8500"
        PORTICO_LISTEN       = "0.0.0.0:8080"
        PORTICO_ADMIN_LISTEN = "${attr.unique.network.ip-address}:9090"
        PORTICO_ADVERTISE    = "${attr.unique.network.ip-address}"
        PORTICO_DRAIN_DELAY  = "5s"
      }

      template {
        destination = "secrets/portico.env"
        env         = true
        data        = <<EOT
CONSUL_HTTP_TOKEN={{ with secret "kv/data/portico" }}{{ .Data.data.consul_token }}{{ end }}
PORTICO_ADMIN_TOKEN={{ with secret "kv/data/portico" }}{{ .Data.data.admin_token }}{{ end }}
EOT
      }

      # SIGTERM: deregister, 5 s of drain delay, then in-flight requests finish.
      kill_timeout = "40s"

      resources {
        cpu    = 2000
        memory = 256
      }
    }
  }
}

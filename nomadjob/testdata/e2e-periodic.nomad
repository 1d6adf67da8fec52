# From github.com/hashicorp/nomad, e2e/periodic/input/simple.nomad at f005448366, verbatim.
# Copyright (c) HashiCorp, Inc.
# SPDX-License-Identifier: MPL-2.0

job "periodic" {
  datacenters = ["dc1"]
  type        = "batch"

  constraint {
    attribute = "${attr.kernel.name}"
    operator  = "set_contains_any"
    value     = "darwin,linux"
  }



  periodic {
    cron             = "* * * * *"
    prohibit_overlap = true
  }

  group "group" {
    task "task" {
      driver = "docker"

      config {
        image   = "busybox:1"
        command = "/bin/sh"
        args    = ["-c", "sleep 5"]
      }
    }
  }
}

#!/usr/bin/env python3
"""Checks deploy/k8s/nightly-search.yaml beyond its schema (which kubernetes-validate checks):
that its parts agree with each other and with scripts/nightly-shard.sh. Run by .ci/run.

- every document parses and names its apiVersion, kind and metadata.name;
- the search Job is Indexed, never restarts a pod in place (podFailurePolicy and
  backoffLimitPerIndex need restartPolicy Never), and has as many completions as the
  ConfigMap's SHARDS, and at most that parallelism;
- the search takes its shard from JOB_COMPLETION_INDEX and its settings from the ConfigMap,
  which holds every variable nightly-shard.sh reads, as strings (Kubernetes refuses numbers);
- both Jobs mount the PersistentVolumeClaim the file defines at /results;
- the merge Job is suspended, so that it starts only when asked.
"""
import sys

import yaml

PATH = sys.argv[1] if len(sys.argv) > 1 else "deploy/k8s/nightly-search.yaml"
SHARD_SCRIPT_VARIABLES = ["SCENARIO", "PROTOCOL", "STRATEGY", "SEEDS", "TIME_BUDGET", "JOBS"]

problems = []


def check(condition, message):
    if not condition:
        problems.append(message)


with open(PATH, encoding="utf-8") as file:
    documents = [document for document in yaml.safe_load_all(file) if document is not None]

by_kind = {}
for document in documents:
    name = (document.get("metadata") or {}).get("name")
    check(document.get("apiVersion") and document.get("kind") and name,
          f"a document without apiVersion, kind or metadata.name: {document!r:.80}")
    by_kind.setdefault(document.get("kind"), {})[name] = document

claims = by_kind.get("PersistentVolumeClaim", {})
config_maps = by_kind.get("ConfigMap", {})
jobs = by_kind.get("Job", {})
check(len(claims) == 1, f"one PersistentVolumeClaim expected, found {len(claims)}")
check(len(config_maps) == 1, f"one ConfigMap expected, found {len(config_maps)}")
search = jobs.get("hangsim-nightly-search")
merge = jobs.get("hangsim-nightly-merge")
check(search is not None, "no Job hangsim-nightly-search")
check(merge is not None, "no Job hangsim-nightly-merge")
if problems:
    sys.exit("\n".join(f"{PATH}: {problem}" for problem in problems))

claim_name = next(iter(claims))
config_name, config = next(iter(config_maps.items()))
data = config.get("data") or {}
for key, value in data.items():
    check(isinstance(value, str), f"ConfigMap {key} is {value!r}, not a string")
for variable in SHARD_SCRIPT_VARIABLES + ["RUN", "SHARDS"]:
    check(variable in data, f"ConfigMap has no {variable}")


def pod(job):
    return job["spec"]["template"]["spec"]


def container(job):
    containers = pod(job)["containers"]
    check(len(containers) == 1, f"Job {job['metadata']['name']} has {len(containers)} containers")
    return containers[0]


for job in (search, merge):
    name = job["metadata"]["name"]
    spec = pod(job)
    check(spec.get("restartPolicy") == "Never", f"Job {name}: restartPolicy must be Never")
    volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
    mounts = {mount["name"]: mount for mount in container(job).get("volumeMounts", [])}
    results = [v for v in volumes.values()
               if (v.get("persistentVolumeClaim") or {}).get("claimName") == claim_name]
    check(len(results) == 1, f"Job {name} does not mount the claim {claim_name}")
    for volume in results:
        check(mounts.get(volume["name"], {}).get("mountPath") == "/results",
              f"Job {name} mounts the results somewhere else than /results")
    sources = [source.get("configMapRef", {}).get("name") for source in container(job).get("envFrom", [])]
    check(config_name in sources, f"Job {name} does not take its settings from ConfigMap {config_name}")

spec = search["spec"]
check(spec.get("completionMode") == "Indexed", "the search Job must be Indexed")
shards = data.get("SHARDS", "0")
check(str(spec.get("completions")) == shards,
      f"the search Job has {spec.get('completions')} completions but SHARDS is {shards}")
check(int(spec.get("parallelism", 1)) <= int(spec.get("completions", 0)),
      "the search Job runs more pods at once than it has shards")
command = " ".join(container(search).get("command", []) + container(search).get("args", []))
check("JOB_COMPLETION_INDEX" in command, "the search does not take its shard from JOB_COMPLETION_INDEX")
check("nightly-shard.sh" in command, "the search does not run nightly-shard.sh")
check(merge["spec"].get("suspend") is True, "the merge Job must be suspended until the search is done")
merge_command = " ".join(container(merge).get("command", []) + container(merge).get("args", []))
check("hangsim merge" in merge_command, "the merge Job does not run hangsim merge")

if problems:
    sys.exit("\n".join(f"{PATH}: {problem}" for problem in problems))
print(f"{PATH}: {len(documents)} documents agree (search of {shards} shards)")

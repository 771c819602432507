"""Header content guards with pulpcore_client; the guard is proven on the content app.

Extra argv keys: "remote" (name of a declared remote), "file" (a hub path it serves),
"values": [first, second] (header values; both are also in "secrets").
"""

import json

from common import core, hf, main


def steps(run):
    guards = core.ContentguardsHeaderApi(run.core)
    remotes = hf.RemotesHuggingFaceApi(run.hf)
    distributions = hf.DistributionsHuggingFaceApi(run.hf)
    first, second = run.args["values"]
    url = f"{run.args['content']}/pulp/content/pc/guarded/{run.args['file']}"

    def fetch(label, value=None):
        return run.content(label, url, {"Authorization": value} if value is not None else {})

    created = run.call(
        "create",
        guards.create_with_http_info,
        core.HeaderContentGuard(name="pc-guard", header_name="Authorization", header_value=first),
    )
    guard = created.data
    href = guard.pulp_href
    run.fact("create.status", created.status_code)
    run.fact("create.header_value", guard.header_value)
    read_response = run.call("read", guards.read_with_http_info, href)
    read = read_response.data
    run.fact("read.header_value", read.header_value)
    # HeaderContentGuardResponse has no hidden_fields attribute: read it from the body.
    run.fact("read.hidden_fields", json.loads(read_response.raw_data).get("hidden_fields"))
    listed = run.call("list", guards.list_with_http_info, name="pc-guard").data
    run.fact("list.header_values", [g.header_value for g in listed.results])

    remote = run.call("find remote", remotes.list_with_http_info, name=run.args["remote"]).data
    dist = run.call(
        "create distribution",
        distributions.create_with_http_info,
        hf.HuggingFaceHuggingFaceDistribution(
            name="pc-guarded", base_path="pc/guarded", remote=remote.results[0].pulp_href, content_guard=href
        ),
    )
    dist_href = (run.wait("distribution.task", dist.data.task).created_resources or [None])[0]
    run.fact("guarded.without_header", fetch("no header"))
    run.fact("guarded.wrong_header", fetch("wrong header", "Bearer not-the-value"))
    run.fact("guarded.with_header", fetch("real header", first))

    # A client that reads the guard and sends it back unchanged sends the mask.
    patched = run.call(
        "patch with mask",
        guards.partial_update_with_http_info,
        href,
        core.PatchedHeaderContentGuard(description="read and sent back", header_value=read.header_value),
    )
    run.fact("patch.status", patched.status_code)
    run.fact("patch.header_value", patched.data.header_value)
    run.fact("patch.description", patched.data.description)
    run.fact("patch.with_header", fetch("real header after mask patch", first))

    again = run.call("read before put", guards.read_with_http_info, href).data
    put = run.call(
        "put with mask",
        guards.update_with_http_info,
        href,
        core.HeaderContentGuard(name=again.name, header_name=again.header_name, header_value=again.header_value),
    )
    run.fact("put.status", put.status_code)
    run.fact("put.with_header", fetch("real header after mask put", first))

    changed = run.call(
        "patch new value",
        guards.partial_update_with_http_info,
        href,
        core.PatchedHeaderContentGuard(header_value=second),
    )
    run.fact("change.header_value", changed.data.header_value)
    run.fact("change.old_header", fetch("old header after change", first))
    run.fact("change.new_header", fetch("new header after change", second))

    run.fact("delete_in_use.status", run.status_of("delete guard in use", guards.delete_with_http_info, href))
    unguard = run.call(
        "unguard distribution",
        distributions.partial_update_with_http_info,
        dist_href,
        hf.PatchedhuggingFaceHuggingFaceDistribution(content_guard=None),
    )
    run.wait("unguard.task", unguard.data.task)
    run.fact("unguarded.without_header", fetch("no header after unguard"))
    deleted = run.call("delete", guards.delete_with_http_info, href)
    run.fact("delete.status", deleted.status_code)
    run.fact("delete.read_status", run.status_of("read after delete", guards.read_with_http_info, href))


main(steps)

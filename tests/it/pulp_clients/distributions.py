"""Distribution CRUD with pulp_hugging_face_client, waiting on every task through TasksApi.

Extra argv keys: "remote" (name of a declared remote), "file" (a hub path served by it,
e.g. "org/bert/resolve/main/config.json").
"""

from common import hf, main


def steps(run):
    remotes = hf.RemotesHuggingFaceApi(run.hf)
    distributions = hf.DistributionsHuggingFaceApi(run.hf)
    content = run.args["content"]
    file = run.args["file"]

    found = run.call("find remote", remotes.list_with_http_info, name=run.args["remote"]).data
    remote = found.results[0].pulp_href

    created = run.call(
        "create",
        distributions.create_with_http_info,
        hf.HuggingFaceHuggingFaceDistribution(name="pc-dist", base_path="pc/dist", remote=remote),
    )
    run.fact("create.status", created.status_code)
    task = run.wait("create.task", created.data.task)
    run.fact("create.created_resources", task.created_resources)
    href = (task.created_resources or [None])[0]
    dist = run.call("read", distributions.read_with_http_info, href).data
    run.fact("read.base_path", dist.base_path)
    run.fact("read.remote_is_the_remote", dist.remote == remote)
    run.fact("read.base_url", dist.base_url)
    run.fact("create.content", run.content("content", f"{content}/pulp/content/pc/dist/{file}"))

    listed = run.call("list", distributions.list_with_http_info, base_path="pc/dist").data
    run.fact("list.hrefs", [d.pulp_href for d in listed.results])

    moved = run.call(
        "patch",
        distributions.partial_update_with_http_info,
        href,
        hf.PatchedhuggingFaceHuggingFaceDistribution(base_path="pc/moved"),
    )
    run.fact("patch.status", moved.status_code)
    run.wait("patch.task", moved.data.task)
    run.fact("patch.base_path", run.call("read after patch", distributions.read_with_http_info, href).data.base_path)
    run.fact("patch.old_content", run.content("old path", f"{content}/pulp/content/pc/dist/{file}"))
    run.fact("patch.new_content", run.content("new path", f"{content}/pulp/content/pc/moved/{file}"))

    put = run.call(
        "put",
        distributions.update_with_http_info,
        href,
        hf.HuggingFaceHuggingFaceDistribution(name="pc-dist", base_path="pc/moved", remote=None),
    )
    run.fact("put.status", put.status_code)
    run.wait("put.task", put.data.task)
    run.fact("put.remote", run.call("read after put", distributions.read_with_http_info, href).data.remote)

    deleted = run.call("delete", distributions.delete_with_http_info, href)
    run.fact("delete.status", deleted.status_code)
    run.wait("delete.task", deleted.data.task)
    run.fact("delete.read_status", run.status_of("read after delete", distributions.read_with_http_info, href))
    run.fact("delete.content", run.content("content after delete", f"{content}/pulp/content/pc/moved/{file}"))


main(steps)

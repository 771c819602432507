"""StatusApi, and pulpcore_client's generic lists (remotes, distributions, content guards, tasks)."""

from common import core, main


def steps(run):
    status = run.call("status", core.StatusApi(run.core).status_read_with_http_info).data
    run.fact("status.components", [v.component for v in status.versions])
    run.fact("status.domain_enabled", status.domain_enabled)
    run.fact("status.database_connected", status.database_connection.connected)
    run.fact("status.content_path_prefix", status.content_settings.content_path_prefix)

    # No credentials: the status needs none (pulpcore).
    anonymous = core.ApiClient(core.Configuration(host=run.args["api"]))
    response = run.call("anonymous status", core.StatusApi(anonymous).status_read_with_http_info)
    run.fact("anonymous.status", response.status_code)

    remotes = run.call("remotes", core.RemotesApi(run.core).list_with_http_info).data
    run.fact("remotes.names", sorted(r.name for r in remotes.results))
    distributions = run.call("distributions", core.DistributionsApi(run.core).list_with_http_info).data
    run.fact("distributions.base_paths", sorted(d.base_path for d in distributions.results))
    guards = run.call("content guards", core.ContentguardsApi(run.core).list_with_http_info).data
    run.fact("guards.names", sorted(g.name for g in guards.results))
    tasks = run.call("tasks", run.tasks.list_with_http_info).data
    run.fact("tasks.count", tasks.count)


main(steps)

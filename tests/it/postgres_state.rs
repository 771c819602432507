//! State in PostgreSQL (`state.postgres`, `docs/fleet.md`): scenarios against a throwaway
//! cluster.

use crate::support::Postgres;

#[test]
fn throwaway_cluster_answers_and_stops() {
    let pg = Postgres::start();
    assert_eq!(pg.psql("SELECT current_user").trim(), "hubcache");
    let pid: i32 = pg.psql("SELECT pg_backend_pid()").trim().parse().unwrap();
    assert!(pid > 0);
    let url = pg.url();
    drop(pg);
    let port = url.rsplit(':').next().unwrap().split('/').next().unwrap();
    assert!(
        std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err(),
        "postgres still listens after drop"
    );
}

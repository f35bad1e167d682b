//! A TCP relay in front of PostgreSQL that can go away, to simulate the
//! database server stopping (connections cut, its port refusing new ones)
//! without touching the server the other tests share.

use reqwest::Url;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

pub struct Relay {
    port: u16,
    target: String,
    accepting: Mutex<Option<JoinHandle<()>>>,
    links: Arc<Mutex<JoinSet<()>>>,
}

impl Relay {
    /// Relays to the host and port of `database_url`.
    pub async fn start(database_url: &str) -> Self {
        let url = Url::parse(database_url).unwrap();
        let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay = Self {
            port: listener.local_addr().unwrap().port(),
            target,
            accepting: Mutex::new(None),
            links: Arc::default(),
        };
        relay.accept_on(listener);
        relay
    }

    fn accept_on(&self, listener: TcpListener) {
        let (target, links) = (self.target.clone(), self.links.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let target = target.clone();
                links.lock().unwrap().spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        *self.accepting.lock().unwrap() = Some(task);
    }

    /// `database_url` with its host and port replaced by the relay's.
    pub fn url_for(&self, database_url: &str) -> String {
        let mut url = Url::parse(database_url).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(self.port)).unwrap();
        url.to_string()
    }

    /// Cuts every relayed connection and closes the port: new connections
    /// are refused, as by a stopped server.
    pub async fn stop(&self) {
        let accepting = self.accepting.lock().unwrap().take();
        if let Some(task) = accepting {
            task.abort();
            let _ = task.await; // the listener is dropped with the task
        }
        self.links.lock().unwrap().abort_all();
    }

    /// Listens on the same port again.
    pub async fn resume(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.accept_on(listener);
    }
}

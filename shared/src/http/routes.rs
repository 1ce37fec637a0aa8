//! A router that remembers its routes: the events check, the local server and the docs list
//! them from the very table the router serves, never from a copy.

use axum::handler::Handler;
use axum::routing::{self, MethodRouter};
use axum::Router;
use http::Method;

use crate::state::AppState;

/// One route: its method and path template (`/api/auth/sessions/{id}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
}

#[derive(Default)]
pub struct Routes {
    router: Router<AppState>,
    list: Vec<Route>,
}

impl Routes {
    pub fn new() -> Self {
        Self::default()
    }

    fn add(mut self, method: Method, path: &'static str, route: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(path, route);
        self.list.push(Route { method, path });
        self
    }

    /// A route whose method router carries layers of its own (a larger body limit).
    pub fn route(self, method: Method, path: &'static str, route: MethodRouter<AppState>) -> Self {
        self.add(method, path, route)
    }

    pub fn get<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add(Method::GET, path, routing::get(h))
    }

    pub fn post<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add(Method::POST, path, routing::post(h))
    }

    pub fn put<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add(Method::PUT, path, routing::put(h))
    }

    pub fn patch<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add(Method::PATCH, path, routing::patch(h))
    }

    pub fn delete<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add(Method::DELETE, path, routing::delete(h))
    }

    /// Every route of this group answers with `Cache-Control: no-store` and
    /// `Pragma: no-cache`, whatever its handler set (the token endpoints: RFC 6749 §5.1).
    pub fn no_store(mut self) -> Self {
        self.router = self
            .router
            .route_layer(axum::middleware::map_response(super::answers::no_store));
        self
    }

    /// These routes are hosted pages: the headers of [`super::answers::page_headers`].
    pub fn pages(mut self) -> Self {
        self.router = self
            .router
            .route_layer(axum::middleware::map_response(super::answers::page_headers));
        self
    }

    /// Both groups' routes in one.
    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.list.extend(other.list);
        self
    }

    pub fn list(&self) -> &[Route] {
        &self.list
    }

    /// Every method some route answers, once each.
    pub fn methods(&self) -> Vec<Method> {
        let mut methods: Vec<Method> = Vec::new();
        for route in &self.list {
            if !methods.contains(&route.method) {
                methods.push(route.method.clone());
            }
        }
        methods
    }

    /// The bare router (no common layers; see [`super::finish`]).
    pub fn with_state(self, state: AppState) -> Router {
        self.router.with_state(state)
    }
}

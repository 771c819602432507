//! Server limits: slow or greedy clients (request heads, client body errors) never starve the others.

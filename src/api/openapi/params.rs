//! Parameters of the document's operations: the object path parameter, and a list's query
//! parameters (pagination, ordering with its accepted values, field selection, filters).

use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn, ParameterStyle};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::{KnownFormat, RefOr, Required, SchemaFormat};

/// A list's filters and the fields its `ordering` accepts.
pub(crate) struct Filters {
    /// Filter parameters, e.g. `name__in`.
    pub(crate) names: Vec<&'static str>,
    /// Orderable fields, e.g. `name` (each also accepted with `-`).
    pub(crate) ordering: Vec<&'static str>,
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn query(name: &str, description: &str, schema: impl Into<RefOr<Schema>>) -> ParameterBuilder {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .description(Some(description))
        .schema(Some(schema))
}

/// A comma-separated list parameter (`style: form`, `explode: false`, as pulpcore).
fn csv(name: &str, description: &str, item: ObjectBuilder) -> Parameter {
    query(name, description, ArrayBuilder::new().items(item))
        .style(Some(ParameterStyle::Form))
        .explode(Some(false))
        .build()
}

/// The `{…_href}` path parameter of an object operation (pulp-glue puts the href there).
pub(crate) fn href_param(name: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .schema(Some(string()))
        .build()
}

/// `fields` and `exclude_fields`, which every read and list accepts.
pub(crate) fn read_params() -> Vec<Parameter> {
    let list = || ArrayBuilder::new().items(string());
    vec![
        query(
            "fields",
            "A list of fields to include in the response.",
            list(),
        )
        .build(),
        query(
            "exclude_fields",
            "A list of fields to exclude from the response.",
            list(),
        )
        .build(),
    ]
}

/// A filter's parameter, its type read from its name as pulpcore's filters are named.
fn filter(name: &str) -> Parameter {
    let date_time = || string().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)));
    let (field, lookup) = name.split_once("__").unwrap_or((name, ""));
    match lookup {
        _ if field == "number" => query(
            name,
            &format!(
                "Filter results where {field} {} value",
                if lookup.is_empty() { "matches" } else { lookup }
            ),
            ObjectBuilder::new().schema_type(Type::Integer),
        )
        .build(),
        "in" => csv(
            name,
            &format!("Filter results where {field} is in a comma-separated list of values"),
            string(),
        ),
        "gte" | "lte" | "gt" | "lt" => query(
            name,
            &format!("Filter results where {field} is {lookup} value"),
            date_time(),
        )
        .build(),
        _ if name == "pulp_label_select" => {
            query(name, "Filter labels by search string", string()).build()
        }
        "" => query(
            name,
            &format!("Filter results where {field} matches value"),
            string(),
        )
        .build(),
        _ => query(
            name,
            &format!("Filter results where {field} {lookup} value"),
            string(),
        )
        .build(),
    }
}

/// `limit`, `offset`, `ordering` (its values: each field and its `-` form), the filters, and
/// `fields`/`exclude_fields`.
pub(crate) fn list_params(filters: &Filters) -> Vec<Parameter> {
    let int = || ObjectBuilder::new().schema_type(Type::Integer);
    let mut ordering: Vec<String> = filters
        .ordering
        .iter()
        .flat_map(|f| [f.to_string(), format!("-{f}")])
        .collect();
    ordering.sort();
    let mut params = vec![
        query("limit", "Number of results to return per page.", int()).build(),
        query(
            "offset",
            "The initial index from which to return the results.",
            int(),
        )
        .build(),
        csv("ordering", "Ordering", string().enum_values(Some(ordering))),
    ];
    params.extend(filters.names.iter().map(|name| filter(name)));
    params.extend(read_params());
    params
}

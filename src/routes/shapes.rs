//! Requests whose valid shapes a flat object schema cannot state: which
//! fields go together (sign in with a password *or* a code), and which
//! actions take which fields (only `reset_password` takes `new_password`).
//! The server decides this once, where the request becomes a command
//! (`TryFrom<…Request>`); here the same rules become a `oneOf` of the
//! generated object schema, so the document is as strict as the server.

use serde_json::json;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{OpenApi, RefOr};

/// One valid shape: these fields are required, these may come too, nothing
/// else; `action`, when given, narrows the `action` field to these values.
struct Shape {
    required: &'static [&'static str],
    optional: &'static [&'static str],
    action: Option<&'static [&'static str]>,
}

const fn shape(required: &'static [&'static str]) -> Shape {
    Shape {
        required,
        optional: &[],
        action: None,
    }
}

const NO_PASSWORD: &[&str] = &["verify_email", "sign_in", "change_email"];
const RESET: &[&str] = &["reset_password"];

/// The request schemas with more than one shape, as the server parses them.
const REQUESTS: &[(&str, &[Shape])] = &[
    (
        // `Credentials::try_from`
        "SignInRequest",
        &[
            shape(&["email", "password"]),
            shape(&["username", "password"]),
            shape(&["email", "code"]),
        ],
    ),
    (
        // `Confirmation::try_from`
        "ConfirmRequest",
        &[
            Shape {
                required: &["action", "email", "code"],
                optional: &[],
                action: Some(NO_PASSWORD),
            },
            Shape {
                required: &["action", "token"],
                optional: &[],
                action: Some(NO_PASSWORD),
            },
            Shape {
                required: &["action", "email", "code", "new_password"],
                optional: &["unlink_accounts"],
                action: Some(RESET),
            },
            Shape {
                required: &["action", "token", "new_password"],
                optional: &["unlink_accounts"],
                action: Some(RESET),
            },
        ],
    ),
    (
        // `change_email` codes are requested with `POST /v1/users/me/email`.
        "CodeRequest",
        &[Shape {
            required: &["email", "action"],
            optional: &[],
            action: Some(&["verify_email", "sign_in", "reset_password"]),
        }],
    ),
    // `Reauthentication::from_fields`
    ("DeleteMeRequest", &[shape(&["password"]), shape(&["code"])]),
    // `Proof::from_fields`
    (
        "MfaRequest",
        &[
            shape(&["mfa_token", "code"]),
            shape(&["mfa_token", "recovery_code"]),
            shape(&["mfa_token", "challenge_id", "credential"]),
        ],
    ),
    (
        "StepUpRequest",
        &[
            shape(&["code"]),
            shape(&["recovery_code"]),
            shape(&["challenge_id", "credential"]),
        ],
    ),
    // Nothing within the recent-sign-in window, else `Reauthentication`.
    (
        "EnrolRequest",
        &[shape(&[]), shape(&["password"]), shape(&["code"])],
    ),
    // Passwordless by address or discoverable, or a pending sign-in.
    (
        "AuthenticationOptionsRequest",
        &[shape(&[]), shape(&["email"]), shape(&["mfa_token"])],
    ),
    (
        "LinkRequest",
        &[
            shape(&["redirect_to", "password"]),
            shape(&["redirect_to", "code"]),
        ],
    ),
];

/// `T | null` becomes `T`.
fn drop_null(property: &mut RefOr<Schema>) {
    match property {
        RefOr::T(Schema::OneOf(one_of)) => {
            let is_null = |item: &RefOr<Schema>| {
                matches!(item, RefOr::T(Schema::Object(o))
                    if o.schema_type == SchemaType::Type(Type::Null))
            };
            one_of.items.retain(|item| !is_null(item));
            if let [only] = one_of.items.as_slice() {
                *property = only.clone();
            }
        }
        RefOr::T(Schema::Object(object)) => {
            if let SchemaType::Array(types) = &mut object.schema_type {
                types.retain(|t| *t != Type::Null);
                if let [only] = types.as_slice() {
                    object.schema_type = SchemaType::Type(only.clone());
                }
            }
        }
        _ => {}
    }
}

/// utoipa puts the description of a nullable reference (`Option<T>` where
/// `T` is a component) on the `$ref` inside `oneOf: [$ref, null]`; it
/// describes the property, so it moves beside the `oneOf`.
pub fn hoist_nullable_ref_descriptions(doc: &mut OpenApi) {
    fn visit(schema: &mut RefOr<Schema>) {
        match schema {
            RefOr::T(Schema::Object(object)) => object.properties.values_mut().for_each(hoist),
            RefOr::T(Schema::OneOf(one_of)) => one_of.items.iter_mut().for_each(visit),
            RefOr::T(Schema::AllOf(all_of)) => all_of.items.iter_mut().for_each(visit),
            _ => {}
        }
    }
    fn hoist(property: &mut RefOr<Schema>) {
        let RefOr::T(Schema::OneOf(one_of)) = property else {
            return;
        };
        if one_of.description.is_none() {
            let described = one_of.items.iter_mut().find_map(|item| match item {
                RefOr::Ref(r) if !r.description.is_empty() => {
                    Some(std::mem::take(&mut r.description))
                }
                _ => None,
            });
            one_of.description = described;
        }
    }
    if let Some(components) = doc.components.as_mut() {
        components.schemas.values_mut().for_each(visit);
    }
}

/// Replaces each listed request schema by the `oneOf` of its shapes.
pub fn apply(doc: &mut OpenApi) {
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    for (name, shapes) in REQUESTS {
        let Some(RefOr::T(Schema::Object(object))) = components.schemas.get(*name) else {
            continue;
        };
        let mut one_of = OneOfBuilder::new()
            .description(object.description.clone())
            .examples(object.example.clone());
        // The whole request's description and example belong to the
        // `oneOf`; a single shape keeps them.
        let single = shapes.len() == 1;
        for shape in *shapes {
            let mut variant = object.clone();
            if !single {
                variant.description = None;
                variant.example = None;
            }
            let fields = || shape.required.iter().chain(shape.optional);
            variant
                .properties
                .retain(|field, _| fields().any(|f| f == field));
            variant.required = shape.required.iter().map(|f| f.to_string()).collect();
            // A required field of a shape cannot be `null` either.
            for field in shape.required {
                if let Some(property) = variant.properties.get_mut(*field) {
                    drop_null(property);
                }
            }
            if let Some(actions) = shape.action {
                let description = match variant.properties.get("action") {
                    Some(RefOr::Ref(r)) if !r.description.is_empty() => Some(r.description.clone()),
                    Some(RefOr::T(Schema::Object(o))) => o.description.clone(),
                    _ => None,
                };
                let narrowed = ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(description)
                    .enum_values(Some(actions.iter().map(|a| json!(a))));
                variant
                    .properties
                    .insert("action".to_string(), narrowed.into());
            }
            one_of = one_of.item(Schema::Object(variant));
        }
        let schema = if shapes.len() == 1 {
            one_of.build().items.remove(0)
        } else {
            one_of.into()
        };
        components.schemas.insert((*name).to_string(), schema);
    }
    // After the shapes: a required field's `drop_null` keeps the `$ref`,
    // with its description.
    hoist_nullable_ref_descriptions(doc);
}

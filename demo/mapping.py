"""The contextdesk.yaml written beside generated demo data: how each demo source maps to canonical fields."""

from __future__ import annotations

# Source name -> file name (relative to the YAML).
SOURCE_FILES = {
    "crm": "crm_contacts.csv",
    "shopify": "shopify_orders.jsonl",
    "stripe": "stripe_subscriptions.json",
    "zendesk": "zendesk_tickets.json",
    "webforms": "web_form_leads.csv",
    "vip": "vip_customers.csv",
}
GROUND_TRUTH_FILE = "ground_truth.csv"
CONFIG_FILE = "contextdesk.yaml"

# Dotted paths (as context.intake.mapping.compile_path reads them): a column named exactly like the path
# wins; otherwise `a.b` reads key b inside object a and a numeric part (`data.0`) indexes a list.
CONFIG_YAML = """\
# Brightleaf Tea Co. demo sources, written by `contextdesk demo generate` (demo/generator.py).
# Paths are relative to this file; ground_truth.csv says which records are the same person.
default_region: US
timezone: UTC
null_values: ["not given", "none given", "no email", "no phone"]

# Who the business is: the greeting names it, and its zone and hours are the chat's and the CLI's.
business:
  name: Brightleaf Tea Co.
  timezone: America/New_York
  hours: {days: [mon, tue, wed, thu, fri], open: "09:00", close: "17:00"}

value_maps:
  lifecycle:
    customer: customer
    Customer: customer
    "Customer ": customer
    cust: customer
    lead: lead
    Lead: lead
    subscriber: subscriber
    marketingqualifiedlead: marketing_qualified_lead
    opportunity: opportunity
    "former customer": former_customer
    churned: former_customer
  deal_stage:
    appointmentscheduled: appointment_scheduled
    qualifiedtobuy: qualified_to_buy
    "Qualified to buy": qualified_to_buy
    contractsent: contract_sent
    closedwon: closed_won
    "Closed Won": closed_won
    closedlost: closed_lost
  plan:
    "Basic (monthly)": basic
    Basic: basic
    basic: basic
    "Plus (monthly)": plus
    Plus: plus
    plus: plus
    "Pro (monthly)": pro
    "Pro (annual)": pro
    Pro: pro
    pro: pro
    "pro annual": pro
  subscription_status:
    trialing: trialing
    active: active
    past_due: past_due
    canceled: canceled
    unpaid: unpaid
    incomplete: incomplete
  interval:
    month: monthly
    year: annual
  financial_status:
    paid: paid
    pending: pending
    authorized: authorized
    refunded: refunded
    partially_refunded: partially_refunded
    voided: voided
  fulfillment:
    fulfilled: fulfilled
    partial: partial
    unfulfilled: unfulfilled
    restocked: returned
  ticket_status:
    new: new
    open: open
    pending: pending
    hold: hold
    solved: solved
    closed: closed
  priority:
    low: low
    normal: normal
    high: high
    urgent: urgent
  channel:
    email: email
    web: web
    chat: chat
    api: api
  form:
    contact: contact_form
    wholesale: wholesale_form
    newsletter: newsletter_signup

sources:
  # HubSpot-style contact export. Timestamps are naive New York wall-clock times.
  - name: crm
    kind: csv
    path: crm_contacts.csv
    id: contact_id
    updated_at: lastmodifieddate
    entity: contact
    timezone: America/New_York
    fields:
      email: [billing_email, email, contact_email]
      phone: [phone, mobilephone]
      first_name: firstname
      last_name: lastname
      company: company
      job_title: jobtitle
      address: address
      city: city
      region: state
      postcode: zip
      country: country
      lifecycle_stage: {from: lifecyclestage, map: lifecycle}
      crm_owner: contact_owner
      deal_stage: {from: deal_stage, map: deal_stage}
      plan: {from: club_plan, map: plan}
      notes: notes
      signed_up_at: createdate
    identifiers:
      crm_contact: {from: contact_id, format: "crm:contact:{}"}
      stripe_customer: {from: stripe_customer_id, format: "stripe:{}"}
      shopify_customer: {from: shopify_customer_id, format: "shopify:customer:{}"}

  # Shopify orders, one JSON object per line. Guest checkouts have no `customer`.
  - name: shopify
    kind: jsonl
    path: shopify_orders.jsonl
    id: id
    updated_at: updated_at
    entity: order
    fields:
      email: [customer.email, email]
      phone: [customer.phone, shipping_address.phone]
      first_name: [customer.first_name, shipping_address.first_name]
      last_name: [customer.last_name, shipping_address.last_name]
      company: shipping_address.company
      address: shipping_address.address1
      city: shipping_address.city
      region: shipping_address.province_code
      postcode: shipping_address.zip
      country: [shipping_address.country_code, shipping_address.country]
      order.number: name
      order.placed_at: created_at
      order.currency: currency
      order.subtotal: subtotal_price
      order.total: total_price
      order.financial_status: {from: financial_status, map: financial_status}
      order.fulfillment_status: {from: fulfillment_status, map: fulfillment}
      order.tracking_numbers: fulfillments.0.tracking_numbers
      order.carrier: fulfillments.0.tracking_company
      order.items:
        from: line_items
        items: {sku: sku, name: title, quantity: quantity, unit_price: price}
    identifiers:
      shopify_customer: {from: customer.id, format: "shopify:customer:{}"}

  # Stripe subscriptions list export with `customer` expanded. Amounts in cents, times in epoch seconds.
  - name: stripe
    kind: json
    path: stripe_subscriptions.json
    records: data
    id: id
    updated_at: [canceled_at, current_period_start, created]
    entity: subscription
    fields:
      email: customer.email
      full_name: customer.name
      phone: customer.phone
      address: customer.address.line1
      city: customer.address.city
      region: customer.address.state
      postcode: customer.address.postal_code
      country: customer.address.country
      subscription.id: id
      subscription.plan: {from: [plan.nickname, items.data.0.price.nickname], map: plan}
      subscription.status: {from: status, map: subscription_status}
      subscription.interval: {from: [plan.interval, items.data.0.price.recurring.interval], map: interval}
      subscription.started_at: start_date
      subscription.trial_end: trial_end
      subscription.current_period_end: current_period_end
      subscription.cancel_at: cancel_at
      subscription.canceled_at: canceled_at
      subscription.currency: currency
    identifiers:
      stripe_customer: {from: customer.id, format: "stripe:{}"}
      shopify_customer: {from: customer.metadata.shopify_customer_id, format: "shopify:customer:{}"}

  # Zendesk tickets export with requester and metric set side-loaded.
  - name: zendesk
    kind: json
    path: zendesk_tickets.json
    records: tickets
    id: id
    updated_at: updated_at
    entity: ticket
    fields:
      email: requester.email
      full_name: requester.name
      phone: requester.phone
      ticket.id: id
      ticket.subject: subject
      ticket.status: {from: status, map: ticket_status}
      ticket.priority: {from: priority, map: priority}
      ticket.channel: {from: via.channel, map: channel}
      ticket.created_at: created_at
      ticket.updated_at: updated_at
      ticket.resolved_at: metric_set.solved_at
      ticket.last_public_message: last_public_comment.body
    identifiers:
      zendesk_user: {from: requester.id, format: "zendesk:user:{}"}

  # Contact / wholesale / newsletter forms on brightleaf.example. US-style 12-hour New York times.
  - name: webforms
    kind: csv
    path: web_form_leads.csv
    id: submission_id
    updated_at: submitted
    entity: interaction
    timezone: America/New_York
    fields:
      full_name: name
      email: email
      phone: phone
      company: company
      postcode: postcode
      country: country
      interaction.kind: {from: form, map: form}
      interaction.occurred_at: submitted
      interaction.url: page_url
      interaction.campaign: utm_campaign
      interaction.message: message

  # The hand-kept VIP spreadsheet (exported from a shared sheet).
  - name: vip
    kind: csv
    path: vip_customers.csv
    id: VIP ID
    updated_at: Last Updated
    entity: contact
    timezone: America/New_York
    fields:
      full_name: Name
      email: Email
      phone: Phone
      company: Company
      country: Country
      postcode: Postcode
      signed_up_at: VIP Since
      notes: Notes
"""

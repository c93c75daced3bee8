# Drives a sharesim account with Zendesk's own partner-protocol client, the
# ticket_sharing gem, unmodified (../shared/vendor/ticket_sharing/lib): it shares a
# ticket carrying an attachment, custom fields, an HTML comment and a custom status,
# then pushes an update, over an agreement the receiver has accepted.
#
# Usage: ruby -I GEM_LIB ticket_sharing_check.rb SHARING_URL AGREEMENT_UUID ACCESS_KEY
# Prints the answers' statuses as JSON.
require 'json'
require 'time'
require 'faraday'
require 'ticket_sharing/agreement'
require 'ticket_sharing/ticket'
require 'ticket_sharing/comment'
require 'ticket_sharing/attachment'
require 'ticket_sharing/actor'

sharing_url, agreement_uuid, access_key = ARGV
agreement = TicketSharing::Agreement.new('uuid' => agreement_uuid, 'access_key' => access_key)

requester = TicketSharing::Actor.new('uuid' => 'a' * 40, 'name' => 'Rita Requester')
agent = TicketSharing::Actor.new('uuid' => 'b' * 40, 'name' => 'Abe Agent', 'role' => 'agent')
photo = TicketSharing::Attachment.new(
  'url' => 'https://files.example.test/screen.png',
  'filename' => 'screen.png',
  'content_type' => 'image/png',
  'display_filename' => 'Cracked screen.png'
)
first = TicketSharing::Comment.new(
  'uuid' => 'c' * 40,
  'author' => requester,
  'body' => 'The screen is cracked.',
  'html_body' => '<p>The screen is <b>cracked</b>.</p>',
  'authored_at' => Time.utc(2026, 1, 2, 13, 1, 1),
  'attachments' => [photo],
  'custom_fields' => { 'channel' => 'phone' }
)
ticket = TicketSharing::Ticket.new(
  'uuid' => 'd' * 40,
  'subject' => 'Cracked screen',
  'requested_at' => Time.utc(2026, 1, 2, 13, 0, 0),
  'status' => 'open',
  'requester' => requester,
  'current_actor' => agent,
  'tags' => ['hardware'],
  'original_id' => 42,
  'custom_fields' => {
    'Serial' => { 'type' => 'text', 'value' => 'SN-123' },
    'Under warranty' => true
  },
  'custom_status' => 'Waiting on parts'
)
ticket.comments << first
ticket.agreement = agreement
shared = ticket.send_to(sharing_url)

update = TicketSharing::Ticket.new('uuid' => ticket.uuid, 'current_actor' => agent, 'custom_status' => 'Parts ordered')
update.comments << TicketSharing::Comment.new(
  'uuid' => 'e' * 40,
  'author' => agent,
  'body' => 'Parts are on their way.',
  'html_body' => '<p>Parts are <i>on their way</i>.</p>',
  'authored_at' => Time.utc(2026, 1, 2, 14, 0, 0),
  'public' => false
)
update.agreement = agreement
updated = update.update_partner(sharing_url)

puts JSON.generate({ 'shared' => shared, 'updated' => updated })

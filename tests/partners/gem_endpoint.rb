# A partner-protocol endpoint built on Zendesk's own `ticket_sharing` gem (unmodified, in
# ../shared/vendor/ticket_sharing), for `sharesim conform`'s test suite. The gem acts
# wherever it can: it parses every agreement, ticket and comment that arrives
# (TicketSharing::Agreement.parse, Ticket.parse), and it sends this side's answers and
# comments (Agreement#update_partner, Ticket#update_partner) through its own Faraday
# client, with its own headers and time format. The gem has no server, so the HTTP
# listener and the protocol's refusals (as sharesim's README documents them) are written
# here, with Ruby's standard library.
#
#   ruby -I ../shared/vendor/ticket_sharing/lib gem_endpoint.rb READY_FILE
#
# It listens on an ephemeral loopback port, writes {"sharing_url"} to READY_FILE, accepts
# every invitation, and answers every shared ticket with a comment of its own.

require 'json'
require 'securerandom'
require 'socket'
require 'time'
require 'faraday'
require 'ticket_sharing'
require 'ticket_sharing/agreement'
require 'ticket_sharing/ticket'
require 'ticket_sharing/comment'

MAX_BODY = 2 * 1024 * 1024
STATUSES = %w[pending accepted declined inactive].freeze
TICKET_STATUSES = %w[new open pending hold solved closed].freeze

class Endpoint
  def initialize
    @lock = Mutex.new
    @agreements = {} # uuid -> TicketSharing::Agreement (as this side holds it)
    @tickets = {}    # uuid -> { agreement:, comments: [uuid] }
  end

  # One request: [status, headers, body].
  def handle(method, path, headers, body)
    parts = path.split('?').first.split('/').reject(&:empty?)
    unless parts.length == 3 && parts[0] == 'sharing' && %w[agreements tickets].include?(parts[1])
      return text(404, "no such sharing endpoint #{path}")
    end
    return text(413, 'the body is larger than 2 MiB') if body.bytesize > MAX_BODY
    version = headers['x-ticket-sharing-version']
    return text(412, 'this endpoint speaks X-Ticket-Sharing-Version 1') if version && version != '1'
    parts[1] == 'agreements' ? agreement_call(method, parts[2], headers, body) : ticket_call(method, parts[2], headers, body)
  end

  private

  def text(status, message, extra = {})
    [status, { 'Content-Type' => 'text/plain; charset=utf-8' }.merge(extra), "#{message}\n"]
  end

  def json(status, value)
    [status, { 'Content-Type' => 'application/json' }, JSON.generate(value)]
  end

  def view(agreement)
    { 'uuid' => agreement.uuid, 'name' => agreement.name, 'sender_url' => agreement.sender_url,
      'receiver_url' => agreement.receiver_url, 'status' => agreement.status }
  end

  def parse(body)
    value = JSON.parse(body.empty? ? '{}' : body)
    value.is_a?(Hash) ? value : nil
  rescue JSON::ParserError
    nil
  end

  # The agreement the token names, or a refusal.
  def authorize(headers, path_uuid)
    token = headers['x-ticket-sharing-token']
    return [nil, text(401, 'missing X-Ticket-Sharing-Token header', 'WWW-Authenticate' => 'X-Ticket-Sharing')] unless token
    uuid, key = token.split(':', 2)
    agreement = @lock.synchronize { @agreements[uuid] }
    return [nil, text(404, "no agreement #{uuid}")] if agreement.nil? || (path_uuid && path_uuid != uuid)
    return [nil, text(403, 'the access key is wrong')] unless key == agreement.access_key
    [agreement, nil]
  end

  def agreement_call(method, uuid, headers, body)
    unless %w[GET POST PUT].include?(method)
      return text(405, "method #{method} is not allowed here", 'Allow' => 'GET, POST, PUT')
    end
    if method == 'GET'
      agreement, refusal = authorize(headers, uuid)
      return refusal || json(200, view(agreement))
    end
    fields = parse(body)
    return text(400, 'the body is not a JSON object') unless fields
    return invitation(uuid, fields, body) if method == 'POST'
    agreement, refusal = authorize(headers, uuid)
    return refusal if refusal
    update = TicketSharing::Agreement.parse(body)
    return text(422, "the body's uuid differs from the path's") if update.uuid && update.uuid != uuid
    return text(422, "status #{update.status.inspect} is not a status") unless STATUSES.include?(update.status)
    @lock.synchronize do
      final = %w[declined inactive].include?(agreement.status)
      return text(422, "the agreement is #{agreement.status}: final") if final && update.status != agreement.status
      agreement.status = update.status
    end
    json(200, view(agreement))
  end

  def invitation(uuid, fields, body)
    agreement = TicketSharing::Agreement.parse(body)
    agreement.uuid ||= uuid
    return text(422, "the body's uuid differs from the path's") if agreement.uuid != uuid
    missing = %w[access_key sender_url name].select { |f| fields[f].to_s.empty? }
    return text(422, "an invitation needs #{missing.join(', ')}") unless missing.empty?
    return text(422, 'access_key must be 40 hexadecimal characters') unless agreement.access_key =~ /\A\h{40}\z/
    return text(422, 'an invitation is pending') unless [nil, 'pending'].include?(agreement.status)
    created = @lock.synchronize do
      existing = @agreements[uuid]
      if existing
        return text(422, "agreement #{uuid} already exists with another access key") if existing.access_key != agreement.access_key
        return json(200, view(existing))
      end
      agreement.status = 'pending'
      @agreements[uuid] = agreement
    end
    Thread.new { accept(created) }
    json(201, view(created))
  end

  # This side's admin accepts: the gem sends the answer to the sender.
  def accept(agreement)
    sleep 0.05
    answer = @lock.synchronize do
      agreement.status = 'accepted'
      TicketSharing::Agreement.new(agreement.as_json)
    end
    answer.update_partner(agreement.sender_url)
  rescue StandardError => e
    warn "gem_endpoint: the answer could not be sent: #{e.message}"
  end

  def ticket_call(method, uuid, headers, body)
    unless %w[POST PUT DELETE].include?(method)
      return text(405, "method #{method} is not allowed here", 'Allow' => 'POST, PUT, DELETE')
    end
    agreement, refusal = authorize(headers, nil)
    return refusal if refusal
    return text(403, "the agreement is #{agreement.status}: ticket calls need an accepted agreement") unless agreement.status == 'accepted'
    return unshare(uuid) if method == 'DELETE'
    return text(400, 'the body is not a JSON object') unless parse(body)
    ticket = TicketSharing::Ticket.parse(body)
    return text(422, "the body's uuid differs from the path's") if ticket.uuid && ticket.uuid != uuid
    return text(422, 'every comment needs a uuid and a body') if ticket.comments.any? { |c| c.uuid.to_s.empty? || c.body.to_s.empty? }
    return text(422, "status #{ticket.status.inspect} is not a ticket status") if ticket.status && !TICKET_STATUSES.include?(ticket.status)
    created = false
    @lock.synchronize do
      held = @tickets[uuid]
      if held.nil?
        return text(404, "no ticket #{uuid}") if method == 'PUT'
        held = @tickets[uuid] = { agreement: agreement, comments: [], subject: ticket.subject }
        created = true
      end
      ticket.comments.each { |c| held[:comments] << c.uuid unless held[:comments].include?(c.uuid) }
    end
    Thread.new { reply(uuid, agreement) } if created
    json(created ? 201 : 200, { 'uuid' => uuid })
  end

  def unshare(uuid)
    known = @lock.synchronize { @tickets.key?(uuid) }
    return text(404, "no ticket #{uuid}") unless known
    json(200, { 'uuid' => uuid })
  end

  # This side's agent answers a shared ticket: the gem sends the comment.
  def reply(uuid, agreement)
    sleep 0.05
    comment = TicketSharing::Comment.new(
      'uuid' => SecureRandom.hex(20),
      'author' => { 'uuid' => SecureRandom.hex(20), 'name' => 'Gem agent', 'role' => 'agent' },
      'body' => 'Received through the ticket_sharing gem.',
      'authored_at' => Time.now
    )
    ticket = TicketSharing::Ticket.new('uuid' => uuid, 'comments' => [comment])
    ticket.agreement = agreement
    ticket.update_partner(agreement.sender_url)
  rescue StandardError => e
    warn "gem_endpoint: the comment could not be sent: #{e.message}"
  end
end

# A small HTTP/1.1 server: one thread per connection, one request per connection.
def serve(server, endpoint)
  loop do
    client = server.accept
    Thread.new(client) do |socket|
      begin
        request_line = socket.gets or next
        method, path = request_line.split(' ')
        headers = {}
        while (line = socket.gets) && line != "\r\n"
          name, value = line.split(':', 2)
          headers[name.strip.downcase] = value.to_s.strip
        end
        length = headers['content-length'].to_i
        body = length.positive? ? socket.read(length) : ''
        status, answer_headers, answer = endpoint.handle(method, path, headers, body.to_s)
        socket.write("HTTP/1.1 #{status} #{status == 200 ? 'OK' : 'Answer'}\r\n")
        answer_headers.merge('Content-Length' => answer.bytesize.to_s, 'Connection' => 'close').each do |name, value|
          socket.write("#{name}: #{value}\r\n")
        end
        socket.write("\r\n#{answer}")
      rescue StandardError => e
        warn "gem_endpoint: #{e.message}"
      ensure
        socket.close
      end
    end
  end
end

ready_file = ARGV.fetch(0)
server = TCPServer.new('127.0.0.1', 0)
port = server.addr[1]
File.write("#{ready_file}.tmp", JSON.generate('sharing_url' => "http://127.0.0.1:#{port}/sharing"))
File.rename("#{ready_file}.tmp", ready_file)
serve(server, Endpoint.new)

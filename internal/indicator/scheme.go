package indicator

import "strings"

// registeredSchemes lists URI schemes registered with IANA (permanent and the
// provisional ones seen in indicator feeds), plus hxxp and hxxps. It decides
// only the ambiguous "word:rest" case without "//": there a registered word is
// a scheme (http:example.com, mailto:a@example.com) and any other word is a
// host with a port (localhost:8080/admin), as the reference normaliser does.
const registeredSchemes = " aaa aaas about acap acct acr afp afs aim android appdata apt attachment bitcoin" +
	" bitcoincash blob bolo cap chrome chrome-extension cid coap coap+tcp coap+ws coaps coaps+tcp coaps+ws" +
	" content crid cvs dab dat data dav dict did dns dntp doi drm dtn dvb ed2k ethereum example facetime fax" +
	" feed file filesystem finger fish ftp geo git go gopher h323 ham hcap http https hxxp hxxps iax icap" +
	" icon im imap info ipfs ipn ipns ipp ipps irc irc6 ircs iris iris.beep iris.lwz iris.xpc iris.xpcs" +
	" itms jabber jar jms ldap ldaps leaptofrogans magnet mailserver mailto maps market matrix message mid" +
	" mms modem mongodb moz msnim msrp msrps mss mt mtqp mumble mupdate mvn news nfs ni nih nntp notes ocf" +
	" oid opaquelocktoken openpgp4fpr otpauth pack palm paparazzi payto pkcs11 platform pop pres prospero" +
	" proxy psyc qb query redis rediss reload res resource rmi rsync rtmfp rtmp rtsp rtsps rtspu" +
	" secondlife service session sftp sgn shttp sieve sip sips skype smb sms smtp snews snmp soap.beep" +
	" soap.beeps soldat spotify ssh steam stun stuns submit svn tag teamspeak tel telnet tftp things" +
	" thismessage tip tn3270 tool turn turns tv udp unreal urn ut2004 vemmi ventrilo view-source vnc" +
	" wais webcal wifi ws wss wtai wyciwyg xcon xcon-userid xfire xmlrpc.beep xmlrpc.beeps xmpp xri" +
	" ymsgr z39.50 z39.50r z39.50s "

func isRegisteredScheme(name string) bool {
	return strings.Contains(registeredSchemes, " "+strings.ToLower(name)+" ")
}

// schemeEnd returns the index of the ':' that ends s's scheme when s starts
// with RFC 3986 scheme syntax (a letter, then letters, digits, + - .), or -1.
func schemeEnd(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return i
		default:
			return -1
		}
	}
	return -1
}

// splitScheme returns s without its scheme, if it has one. Any syntactic
// scheme followed by "//" counts (tcp://1.2.3.4:4444 is a URL with a scheme,
// not a host named "tcp"); without "//" only a registered one does, and not
// when what follows is a port number (info:8080 is a host and a port).
func splitScheme(s string) (rest string, ok bool) {
	i := schemeEnd(s)
	if i < 0 {
		return s, false
	}
	rest = s[i+1:]
	if strings.HasPrefix(rest, "//") || isRegisteredScheme(s[:i]) && !startsWithPort(rest) {
		return rest, true
	}
	return s, false
}

func hasScheme(s string) bool {
	_, ok := splitScheme(s)
	return ok
}

// startsWithPort reports whether s is a port number, alone or followed by a
// path, query or fragment.
func startsWithPort(s string) bool {
	end := strings.IndexAny(s, "/?#")
	if end < 0 {
		end = len(s)
	}
	return isDigits(s[:end])
}

// looksLikeURL is the detection rule for URLs: a scheme, any of / ? # @, or a
// host followed by a port.
func looksLikeURL(s string) bool {
	if hasScheme(s) || strings.ContainsAny(s, "/?#@") {
		return true
	}
	i := strings.LastIndexByte(s, ':')
	return i > 0 && isDigits(s[i+1:]) && (!strings.Contains(s[:i], ":") || s[0] == '[')
}

"""Delivery reports as real mail servers write them (RFC 3464), for a message the fake SMTP server received.

Postfix returns the message's headers (``text/rfc822-headers``); Exim and Exchange may return the whole
message (``message/rfc822``); some servers only paste the headers into their text.
"""

from email.message import EmailMessage

BOUNDARY = "4F5D21A0.1700000000/mx.exemple.fr"


def delivery_report(original: EmailMessage, *, action: str = "failed", status: str = "5.1.1",
                    returned: str = "headers") -> bytes:
    recipient = str(original["To"])
    headers = "".join(f"{name}: {value}\n" for name, value in original.items())
    returned_part = {
        "headers": f"Content-Description: Undelivered Message Headers\nContent-Type: text/rfc822-headers\n\n{headers}",
        "message": "Content-Description: Undelivered Message\nContent-Type: message/rfc822\n\n"
                   + original.as_string(),
        "quoted": "",
    }[returned]
    text = ("This is the mail system at host mx.exemple.fr.\n\nI'm sorry to have to inform you that your message"
            " could not be delivered to one or more recipients.\n")
    if returned == "quoted":
        text += "\n------ Original message headers ------\n" + headers
    parts = [
        f"Content-Description: Notification\nContent-Type: text/plain; charset=us-ascii\n\n{text}",
        "Content-Description: Delivery report\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.exemple.fr\nX-Postfix-Queue-ID: 4F5D21A0\n"
        "Arrival-Date: Sun, 22 Nov 2026 09:00:01 +0100 (CET)\n\n"
        f"Final-Recipient: rfc822; {recipient}\nOriginal-Recipient: rfc822;{recipient}\nAction: {action}\n"
        f"Status: {status}\nRemote-MTA: dns; mail.exemple.fr\n"
        f"Diagnostic-Code: smtp; 550 {status} <{recipient}>: Recipient address rejected: User unknown\n",
    ] + ([returned_part] if returned_part else [])
    body = "".join(f"--{BOUNDARY}\n{part}\n" for part in parts) + f"--{BOUNDARY}--\n"
    return (
        "From: MAILER-DAEMON@mx.exemple.fr (Mail Delivery System)\nSubject: Undelivered Mail Returned to Sender\n"
        "To: retours@lac.cpts-exemple.fr\nAuto-Submitted: auto-replied\nMIME-Version: 1.0\n"
        f'Content-Type: multipart/report; report-type=delivery-status;\n boundary="{BOUNDARY}"\n\n'
        "This is a MIME-encapsulated message.\n\n" + body
    ).replace("\n", "\r\n").encode()


OUT_OF_OFFICE = (
    "From: Elodie Durand <elodie.durand@exemple.fr>\r\nSubject: Absente jusqu'au 4 janvier\r\n"
    "Auto-Submitted: auto-replied\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    "Je suis absente. Message-ID de votre envoi : {message_id}\r\n"
)

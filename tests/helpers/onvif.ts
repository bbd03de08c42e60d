/** An ONVIF Notify with one tns1:AccessControl/Duress message at door-lobby-2, credential cred-00417. */
export function onvifDuress(holder?: string): string {
  const holderItem = holder === undefined ? '' : `<tt:SimpleItem Name="CredentialHolderName" Value="${holder}"/>`;
  return `<?xml version="1.0"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:tt="http://www.onvif.org/ver10/schema">
 <s:Body><wsnt:Notify><wsnt:NotificationMessage>
  <wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">tns1:AccessControl/Duress</wsnt:Topic>
  <wsnt:Message><tt:Message UtcTime="2025-03-01T09:15:02Z">
   <tt:Source><tt:SimpleItem Name="AccessPointToken" Value="door-lobby-2"/></tt:Source>
   <tt:Data><tt:SimpleItem Name="CredentialToken" Value="cred-00417"/>${holderItem}</tt:Data>
  </tt:Message></wsnt:Message>
 </wsnt:NotificationMessage></wsnt:Notify></s:Body></s:Envelope>`;
}
